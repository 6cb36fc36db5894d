"""Status and plans: computed read-only, in Metamorph's console format, with its numbers."""

import sqlite3

import pytest

from metamorph.migrate import runner
from metamorph.migrate.errors import MigrationNotApplied, UnknownMigration

from .helpers import fingerprint


def _summary(text, number="001"):
    lines = text.splitlines()
    start = lines.index(f"[Migration {number}] Summary:")
    return lines[start + 1 : start + 3]


def test_plan_of_a_legacy_database_with_eleven_tables_reports_metamorphs_numbers(metamorph_db):
    path = metamorph_db("legacy")
    plans = runner.plan(path)
    assert [p.migration_id for p in plans] == ["001_add_vault_id", "002_add_vercel_sandbox_tables"]
    assert plans[0].counts() == {
        "columns_added": 11,
        "columns_skipped": 10,
        "indexes_created": 21,
        "indexes_skipped": 11,
    }
    assert _summary(runner.format_plan_text(plans)) == [
        "  Columns added: 11 (10 skipped)",
        "  Indexes created: 21 (11 skipped)",
    ]


def test_plan_without_session_states_adds_ten_columns_and_nineteen_indexes(metamorph_db):
    path = metamorph_db("legacy", session_states=False)
    text = runner.format_plan_text(runner.plan(path, "001_add_vault_id"))
    assert _summary(text) == [
        "  Columns added: 10 (11 skipped)",
        "  Indexes created: 19 (13 skipped)",
    ]


def test_plan_of_an_autoupgraded_database_adds_only_the_session_states_column(metamorph_db):
    plan = runner.plan(metamorph_db("autoupgraded"), "001")[0]
    assert plan.counts()["columns_added"] == 1
    assert plan.counts()["columns_skipped"] == 20
    assert [s.target for s in plan.to_run() if s.kind == "column"] == ["session_states"]
    assert plan.counts()["indexes_created"] == 21


def test_plan_of_a_fresh_install_skips_every_column_and_the_existing_activity_index(metamorph_db):
    plan = runner.plan(metamorph_db("fresh"), "001")[0]
    assert plan.counts() == {
        "columns_added": 0,
        "columns_skipped": 21,
        "indexes_created": 20,
        "indexes_skipped": 12,
    }
    skipped = {s.target: s.note for s in plan.steps if s.skipped and s.kind == "index"}
    assert skipped["idx_session_states_vault_activity"] == "index already exists"


def test_plan_with_all_twenty_one_tables_adds_every_column_and_index(metamorph_db):
    plan = runner.plan(metamorph_db("legacy", optional_tables=True), "001")[0]
    assert plan.counts() == {
        "columns_added": 21,
        "columns_skipped": 0,
        "indexes_created": 32,
        "indexes_skipped": 0,
    }


def test_plan_text_uses_metamorphs_lines_and_shows_the_exact_sql(metamorph_db):
    text = runner.format_plan_text(runner.plan(metamorph_db("legacy")))
    assert "[Migration 001] Adding vault_id columns for multitenancy..." in text
    assert "  [+] sessions: column to be added" in text
    assert (
        "        ALTER TABLE \"sessions\" ADD COLUMN vault_id TEXT NOT NULL DEFAULT 'default-vault'"
    ) in text
    assert "  [-] identity_checkpoints: table does not exist" in text
    assert "  [-] idx_identity_checkpoints_vault_id: table does not exist" in text
    assert '        CREATE INDEX "idx_messages_vault_id" ON "messages"("vault_id", "id")' in text
    assert "[Migration 002] Creating Vercel and Sandbox tables..." in text
    assert "  Tables created: 3 (0 skipped)" in text
    assert "  Indexes created: 12 (0 skipped)" in text


def test_plan_lists_steering_messages_indexes_last_like_metamorphs_file(metamorph_db):
    plan = runner.plan(metamorph_db("legacy", optional_tables=True), "001")[0]
    names = [s.target for s in plan.steps if s.kind == "index"]
    assert names[-2:] == ["idx_steering_messages_vault_id", "idx_steering_messages_vault_session"]


def test_plan_and_status_never_write_the_file(metamorph_db):
    path = metamorph_db("legacy")
    before = fingerprint(path)
    runner.plan(path)
    runner.status(path)
    runner.format_plan_text(runner.plan(path, "002"))
    assert fingerprint(path) == before


def test_status_of_a_legacy_database_shows_both_migrations_pending(metamorph_db):
    rows = runner.status(metamorph_db("legacy"))
    assert [(r["id"], r["applied"], r["pending"]) for r in rows] == [
        ("001_add_vault_id", False, True),
        ("002_add_vercel_sandbox_tables", False, True),
    ]


def test_status_after_a_run_shows_when_each_migration_was_applied(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    rows = runner.status(path)
    assert all(r["applied"] and not r["pending"] for r in rows)
    assert all(r["applied_at"].endswith("Z") and len(r["checksum"]) == 8 for r in rows)


def test_a_run_writes_the_checksums_metamorphs_own_build_writes(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    rows = runner.status(path)
    assert [(r["id"], r["checksum"], r["checksum_note"]) for r in rows] == [
        ("001_add_vault_id", "6b21027c", "same as Metamorph's build"),
        ("002_add_vercel_sandbox_tables", "4f41dc34", "same as Metamorph's build"),
    ]


def test_a_row_written_by_another_build_is_information_not_a_mismatch(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_migrations SET checksum = '1f2e3d4c' WHERE id = '001_add_vault_id'")
    conn.commit()
    conn.close()
    rows = {r["id"]: r for r in runner.status(path)}
    assert rows["001_add_vault_id"]["applied"] and not rows["001_add_vault_id"]["pending"]
    assert rows["001_add_vault_id"]["checksum_note"] == "applied by another build"
    assert rows["002_add_vercel_sandbox_tables"]["checksum_note"] == "same as Metamorph's build"
    assert runner.plan(path) == []  # applied is applied, whatever the build


def test_plan_with_nothing_pending_says_there_is_nothing_to_do(metamorph_db):
    path = metamorph_db("migrated")
    assert runner.plan(path) == []
    assert runner.format_plan_text([]) == "[Plan] No pending migrations: nothing to do."


def test_plan_of_an_applied_migration_named_explicitly_says_it_is_already_applied(metamorph_db):
    text = runner.format_plan_text(runner.plan(metamorph_db("migrated"), "001"))
    assert "[Plan] 001_add_vault_id is already applied: nothing to do." in text


def test_unknown_migration_id_is_refused_with_the_list_of_valid_ids(metamorph_db):
    with pytest.raises(UnknownMigration) as err:
        runner.plan(metamorph_db("legacy"), "003_drop_everything")
    assert str(err.value) == (
        "Unknown migration '003_drop_everything'. Valid ids: 001_add_vault_id, "
        "002_add_vercel_sandbox_tables (the number alone, e.g. 001, works too). See them with "
        "`runmigration --list`."
    )


def test_rollback_plan_of_a_never_applied_migration_is_a_clear_error(metamorph_db):
    path = metamorph_db("legacy")
    with pytest.raises(MigrationNotApplied) as err:
        runner.plan(path, "002", direction="down")
    assert "Migration 002_add_vercel_sandbox_tables is not applied" in str(err.value)
    assert "nothing to roll back" in str(err.value)


def test_rollback_plan_of_001_drops_only_existing_index_names(metamorph_db):
    plan = runner.plan(metamorph_db("migrated"), "001", direction="down")[0]
    assert len(plan.to_run()) == 21
    assert plan.to_run()[0].sql == 'DROP INDEX "idx_sessions_vault_id"'
    text = runner.format_plan_text([plan])
    assert "Note: vault_id columns will be preserved for safety." in text
    assert "restore the backup taken before the migration" in text
