"""Rolling back: 002 drops its tables (and says how many rows go), 001 keeps its columns."""

import sqlite3

import pytest

from metamorph.migrate import runner
from metamorph.migrate.errors import MigrationNotApplied, UnknownAppliedMigration, UnknownMigration

from .helpers import fingerprint, schema_snapshot, sql


def test_rollback_preview_of_002_counts_the_rows_each_dropped_table_would_lose(metamorph_db):
    path = metamorph_db("migrated")
    expected = {
        t: sql(path, f"SELECT COUNT(*) FROM {t}")[0][0]
        for t in ("vercel_connections", "sandboxes", "sandbox_resource_usage")
    }
    before = fingerprint(path)
    preview = runner.rollback_preview(path)
    assert preview["migration_id"] == "002_add_vercel_sandbox_tables"
    assert preview["rows_lost"] == expected and preview["total_rows_lost"] > 0
    assert preview["requires_fresh_backup"] is True
    assert (
        f"  [-] sandboxes: table to be dropped ({expected['sandboxes']} rows would be lost)"
        in preview["text"]
    )
    assert "OAuth connections included" in preview["warning"]
    assert fingerprint(path) == before


def test_rollback_without_an_id_undoes_the_latest_applied_migration(metamorph_db):
    path = metamorph_db("migrated")
    lost = runner.rollback_preview(path)["rows_lost"]
    result = runner.rollback(path)
    outcome = result.migrations[0]
    assert (outcome.migration_id, outcome.status) == (
        "002_add_vercel_sandbox_tables",
        "rolled back",
    )
    assert outcome.rows_lost == lost
    assert (
        sql(
            path,
            "SELECT name FROM sqlite_master WHERE name IN "
            "('vercel_connections', 'sandboxes', 'sandbox_resource_usage')",
        )
        == []
    )
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations")] == ["001_add_vault_id"]
    assert "[Migration 002 Rollback] Tables dropped successfully" in result.text


def test_rollback_of_001_drops_its_indexes_and_keeps_the_vault_id_columns(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path, "001")
    result = runner.rollback(path, "001_add_vault_id")
    assert result.migrations[0].counts()["indexes_dropped"] == 21
    assert sql(path, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'idx_%_vault_%'") == [(0,)]
    assert sql(path, "PRAGMA table_info(sessions)")[-1][1] == "vault_id"
    assert sql(path, "SELECT COUNT(*) FROM schema_migrations") == [(0,)]
    assert "  [-] Dropped index: idx_sessions_vault_id" in result.text
    assert "[Migration 001 Rollback] Removed 21 indexes" in result.text


def test_schema_migrations_table_stays_after_a_full_rollback(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    runner.rollback(path)
    runner.rollback(path)
    assert sql(path, "SELECT name FROM sqlite_master WHERE name='schema_migrations'")


def test_rollback_then_run_again_restores_the_migrated_schema(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path)
    migrated = schema_snapshot(path)
    runner.rollback(path)
    runner.rollback(path)
    runner.run_migrations(path)
    assert schema_snapshot(path) == migrated


def test_rollback_of_a_never_applied_migration_is_refused_and_changes_nothing(metamorph_db):
    path = metamorph_db("legacy")
    runner.run_migrations(path, "001")
    before = fingerprint(path)
    with pytest.raises(MigrationNotApplied) as err:
        runner.rollback(path, "002")
    assert str(err.value).startswith(
        f"Migration 002_add_vercel_sandbox_tables is not applied to {path} (schema_migrations "
        "has no row for it), so there is nothing to roll back. Applied migrations: "
        "001_add_vault_id."
    )
    assert fingerprint(path) == before


def test_rollback_on_a_legacy_database_says_no_migration_is_applied(metamorph_db):
    path = metamorph_db("legacy")
    with pytest.raises(MigrationNotApplied) as err:
        runner.rollback(path)
    assert "No migration is applied" in str(err.value)


def test_rollback_of_an_unknown_id_lists_the_valid_ids(metamorph_db):
    with pytest.raises(UnknownMigration) as err:
        runner.rollback(metamorph_db("migrated"), "999")
    assert "Valid ids: 001_add_vault_id, 002_add_vercel_sandbox_tables" in str(err.value)


def test_rollback_refuses_to_guess_the_down_step_of_an_unknown_recorded_migration(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES ('003_future', '2027-01-01T00:00:00Z', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(UnknownAppliedMigration) as err:
        runner.rollback(path)
    assert "003_future, which metamorph-admin does not know" in str(err.value)
    assert runner.status(path)[-1]["known"] is False
