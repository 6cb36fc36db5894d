"""Verification after a migration finds each thing the guide asks operators to check by hand."""

import sqlite3

from metamorph.migrate import runner
from metamorph.migrate.verify import normalize_counts, verify_migration

from .helpers import fingerprint, row_counts


def _migrated_legacy(metamorph_db):
    path = metamorph_db("legacy")
    before = row_counts(path)
    result = runner.run_migrations(path)
    return path, before, result.columns_added


def _check(verification, name):
    return next(c for c in verification.checks if c.name == name)


def _execute(path, *statements):
    conn = sqlite3.connect(path, isolation_level=None)
    for s in statements:
        conn.execute(s)
    conn.close()


def test_a_correct_migration_passes_every_check_without_writing(metamorph_db):
    path, before, legacy = _migrated_legacy(metamorph_db)
    stamp = fingerprint(path)
    verification = verify_migration(path, before, legacy)
    assert verification.ok, verification.text
    assert [c.name for c in verification.checks] == [
        "schema_migrations",
        "row_counts",
        "vault_columns",
        "indexes",
        "default_vault",
        "query_plans",
        "quick_check",
    ]
    assert fingerprint(path) == stamp


def test_a_lost_row_fails_the_row_count_check_naming_the_table(metamorph_db):
    path, before, legacy = _migrated_legacy(metamorph_db)
    _execute(path, "DELETE FROM messages WHERE rowid = (SELECT MIN(rowid) FROM messages)")
    check = _check(verify_migration(path, before, legacy), "row_counts")
    assert not check.ok
    assert check.details == [
        f"messages: {before['messages']} rows before, {before['messages'] - 1} now"
    ]
    assert "restore the backup" in check.message


def test_a_missing_index_fails_the_index_check_and_the_planner_check(metamorph_db):
    path, before, legacy = _migrated_legacy(metamorph_db)
    _execute(
        path,
        'DROP INDEX "idx_conversations_vault_id"',
        'DROP INDEX "idx_conversations_vault_updated"',
    )
    verification = verify_migration(path, before, legacy)
    indexes = _check(verification, "indexes")
    assert not indexes.ok
    assert "idx_conversations_vault_id on conversations(vault_id, id)" in indexes.details
    assert "run the migration again" in indexes.message
    plans = _check(verification, "query_plans")
    assert not plans.ok and plans.details[0].startswith("conversations: SCAN")


def test_rows_outside_default_vault_fail_the_legacy_data_check(metamorph_db):
    path, before, legacy = _migrated_legacy(metamorph_db)
    _execute(path, "UPDATE sessions SET vault_id = 'user-0001' WHERE rowid <= 3")
    check = _check(verify_migration(path, before, legacy), "default_vault")
    assert not check.ok and check.details == ["sessions: 3 rows outside default-vault"]


def test_a_fresh_install_passes_even_with_its_descending_activity_index(metamorph_db):
    path = metamorph_db("fresh")
    runner.run_migrations(path)
    verification = verify_migration(path)
    assert verification.ok, verification.text
    assert any("different sort order" in d for d in _check(verification, "indexes").details)


def test_an_unmigrated_database_is_reported_as_not_migrated(metamorph_db):
    verification = verify_migration(metamorph_db("legacy"))
    assert not verification.ok
    assert _check(verification, "schema_migrations").message == (
        "no migration is recorded as applied"
    )


def test_backup_manifest_counts_are_accepted_in_every_shape():
    assert normalize_counts({"messages": 3}) == {"messages": 3}
    assert normalize_counts(
        {"messages": {"state": "migrated", "total": 3}, "sandboxes": {"state": "absent"}}
    ) == {"messages": 3}
    assert normalize_counts({"tables": {"messages": {"total": 3}}}) == {"messages": 3}
