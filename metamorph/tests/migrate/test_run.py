"""Running the migrations: the same schema as Metamorph's migrator, atomically, re-runnable."""

import json
import re
import sqlite3

import pytest

from metamorph import schema
from metamorph.migrate import runner

from .helpers import fingerprint, row_counts, schema_snapshot, sql
from .metamorph_reference import migrate_like_metamorph

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_run_on_a_legacy_database_leaves_the_schema_of_the_demo_migrated_state(metamorph_db):
    ours = metamorph_db("legacy")
    runner.run_migrations(ours)
    built = metamorph_db("migrated")
    assert schema_snapshot(ours) == schema_snapshot(built)


def test_run_leaves_the_schema_metamorphs_own_statements_leave(metamorph_db):
    ours, theirs = metamorph_db("legacy"), metamorph_db("legacy")
    runner.run_migrations(ours)
    migrate_like_metamorph(theirs)
    assert schema_snapshot(ours, normalize=True) == schema_snapshot(theirs, normalize=True)


def test_run_matches_metamorph_on_a_database_with_all_twenty_one_tables(metamorph_db):
    ours = metamorph_db("legacy", optional_tables=True)
    theirs = metamorph_db("legacy", optional_tables=True)
    runner.run_migrations(ours)
    migrate_like_metamorph(theirs)
    assert schema_snapshot(ours, normalize=True) == schema_snapshot(theirs, normalize=True)


def test_run_records_both_migrations_with_iso_8601_applied_at(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    rows = sql(path, "SELECT id, applied_at, checksum FROM schema_migrations ORDER BY id")
    assert [r[0] for r in rows] == ["001_add_vault_id", "002_add_vercel_sandbox_tables"]
    assert all(ISO.match(r[1]) for r in rows)
    assert sql(path, "SELECT sql FROM sqlite_master WHERE name='schema_migrations'")[0][0] == (
        schema.SCHEMA_MIGRATIONS_DDL.replace(" IF NOT EXISTS", "")
    )


def test_vault_id_column_reads_as_the_guide_says_in_table_info(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    info = sql(path, "PRAGMA table_info(sessions)")
    assert info[-1] == (8, "vault_id", "TEXT", 1, "'default-vault'", 0)


def test_run_keeps_every_row_and_puts_legacy_rows_in_default_vault(metamorph_db):
    path = metamorph_db("legacy")
    before = row_counts(path)
    runner.run_migrations(path)
    after = row_counts(path)
    assert {t: after[t] for t in before} == before
    assert sql(path, "SELECT DISTINCT vault_id FROM messages") == [("default-vault",)]


def test_run_output_is_in_metamorphs_format_with_its_summary(metamorph_db):
    result = runner.run_migrations(metamorph_db("legacy"))
    text = result.text
    assert text.startswith(
        "[Migrator] Found 2 pending migrations\n[Migrator] Running migration: 001_add_vault_id\n"
    )
    assert "  [+] sessions: column added successfully" in text
    assert "  [+] idx_sessions_vault_id: index created successfully" in text
    assert "  Columns added: 11 (10 skipped)\n  Indexes created: 21 (11 skipped)" in text
    assert "[Migrator] Successfully applied: 002_add_vercel_sandbox_tables" in text


def test_run_result_is_json_with_counts_and_durations_per_migration(metamorph_db):
    result = json.loads(json.dumps(runner.run_migrations(metamorph_db("legacy")).to_dict()))
    first, second = result["migrations"]
    assert first["status"] == "applied" and first["seconds"] >= 0
    assert first["counts"] == {
        "columns_added": 11,
        "columns_skipped": 10,
        "indexes_created": 21,
        "indexes_skipped": 11,
    }
    assert second["counts"] == {
        "tables_created": 3,
        "tables_skipped": 0,
        "indexes_created": 12,
        "indexes_skipped": 0,
    }
    assert len(result["columns_added"]) == 11
    assert all("seconds" in step for step in first["steps"])


def test_progress_is_reported_for_every_step_and_the_commit(metamorph_db):
    calls = []
    runner.run_migrations(metamorph_db("legacy"), progress=lambda *a: calls.append(a))
    first = [c for c in calls if c[0] == "001_add_vault_id"]
    steps = 21 + 32  # every table and index 001 names, skipped ones included
    assert [c[1] for c in first[:steps]] == list(range(steps))
    assert all(c[2] == steps for c in first)
    assert ("001_add_vault_id", steps, steps, "committing") in first
    assert "creating index idx_messages_vault_id on messages" in [c[3] for c in first]


def test_a_second_run_is_a_no_op_that_does_not_touch_the_file(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    before = fingerprint(path)
    result = runner.run_migrations(path)
    assert [m.status for m in result.migrations] == ["already applied", "already applied"]
    assert fingerprint(path) == before
    assert "[Migrator] Found 0 pending migrations" in result.text


def test_autoupgraded_database_gets_one_column_and_all_composite_indexes(metamorph_db):
    path = metamorph_db("autoupgraded")
    result = runner.run_migrations(path)
    assert result.migrations[0].counts()["columns_added"] == 1
    assert "  Columns added: 1 (20 skipped)" in result.text
    assert (
        sql(
            path,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'idx_%_vault_%' AND type='index'",
        )[0][0]
        >= 21
    )


def test_fresh_install_is_migrated_without_touching_its_columns(metamorph_db):
    path = metamorph_db("fresh")
    before = {t: sql(path, f"PRAGMA table_info({t})") for t in schema.LEGACY_TABLES}
    runner.run_migrations(path)
    assert {t: sql(path, f"PRAGMA table_info({t})") for t in schema.LEGACY_TABLES} == before
    assert len(sql(path, "SELECT id FROM schema_migrations")) == 2


def test_half_migrated_database_is_finished_to_the_full_migrated_schema(metamorph_db):
    path, reference = metamorph_db("legacy"), metamorph_db("legacy")
    conn = sqlite3.connect(path, isolation_level=None)
    for t in ("sessions", "messages", "conversations"):  # a tool that stopped half-way
        conn.execute(f"ALTER TABLE {t} ADD COLUMN {schema.VAULT_COLUMN_DDL}")
    conn.execute('CREATE INDEX "idx_sessions_vault_id" ON "sessions"("vault_id", "id")')
    conn.close()
    result = runner.run_migrations(path)
    assert result.migrations[0].counts()["columns_added"] == 8
    runner.run_migrations(reference)
    assert schema_snapshot(path) == schema_snapshot(reference)


def test_one_migration_can_be_run_by_its_number(metamorph_db):
    path = metamorph_db("legacy")
    result = runner.run_migrations(path, migration_id="001")
    assert [m.migration_id for m in result.migrations] == ["001_add_vault_id"]
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations")] == ["001_add_vault_id"]
    assert sql(path, "SELECT name FROM sqlite_master WHERE name='sandboxes'") == []


def test_a_progress_callback_that_raises_cancels_the_migration_and_keeps_nothing(metamorph_db):
    path = metamorph_db("legacy")
    before = schema_snapshot(path)

    def cancel(phase, done, total, message):
        if done == 40:
            raise KeyboardInterrupt("operator cancelled")

    with pytest.raises(KeyboardInterrupt):
        runner.run_migrations(path, progress=cancel)
    assert schema_snapshot(path) == before
