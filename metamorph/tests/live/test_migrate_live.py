"""Migrations 001 and 002, and their rollback, while Metamorph writes."""

import pytest

from conftest import sql
from metamorph.migrate import procedures as operations
from metamorph.migrate.preflight import check_lock
from metamorph.testing.lockers import Locker

from .conftest import (
    Window,
    assert_writer_unharmed,
    integrity,
    longest_hold,
    slow_steps,
    wrote_during,
)


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize("shape", ["linked", "observed"])
def test_migrating_beside_the_writer_is_verified_ok_and_loses_nothing(
    live_db, backup_dir, metamorph_writer, mode, shape
):
    db = live_db(state="legacy", shape=shape, mode=mode)
    writer = metamorph_writer(db)
    with Window() as op:
        outcome = operations.migrate(db, backup_dir, take_backup=True, progress=slow_steps(0.002))
    writer.wait_for_commits(10)
    report = writer.stop()

    assert wrote_during(report, op) >= 1
    assert outcome["ok"], outcome["text"]
    assert "FAILED" not in outcome["text"] and "restore the backup" not in outcome["text"]
    assert_writer_unharmed(report, db, held=longest_hold(outcome))
    assert integrity(db) == ["ok"]
    applied = [m["migration_id"] for m in outcome["run"]["migrations"]]
    assert applied == ["001_add_vault_id", "002_add_vercel_sandbox_tables"]
    # Rows the server wrote after 001 carry default-vault, as every legacy row does.
    assert sql(db, "SELECT DISTINCT vault_id FROM semantic_memory") == [("default-vault",)]


@pytest.mark.parametrize("migration_id", ["001_add_vault_id", "002_add_vercel_sandbox_tables"])
def test_one_migration_at_a_time_beside_the_writer(
    live_db, backup_dir, metamorph_writer, migration_id
):
    db = live_db(state="legacy")
    if migration_id.startswith("002"):
        operations.migrate(db, backup_dir, "001_add_vault_id", take_backup=True)
    writer = metamorph_writer(db)
    outcome = operations.migrate(
        db, backup_dir, migration_id, take_backup=True, progress=slow_steps(0.002)
    )
    writer.wait_for_commits(10)
    report = writer.stop()

    assert outcome["ok"], outcome["text"]
    assert [m["status"] for m in outcome["run"]["migrations"]] == ["applied"]
    assert_writer_unharmed(report, db, held=longest_hold(outcome))


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_rollbacks_beside_the_writer(live_db, backup_dir, metamorph_writer, mode):
    db = live_db(state="migrated", mode=mode)
    writer = metamorph_writer(db)
    down_002 = operations.rollback(
        db,
        backup_dir,
        "002_add_vercel_sandbox_tables",
        take_backup=True,
        progress=slow_steps(0.002),
    )
    down_001 = operations.rollback(db, backup_dir, "001_add_vault_id", progress=slow_steps(0.002))
    writer.wait_for_commits(10)
    report = writer.stop()

    assert down_002["run"]["migrations"][0]["status"] == "rolled back"
    assert down_001["run"]["migrations"][0]["status"] == "rolled back"
    assert sql(db, "SELECT id FROM schema_migrations") == []
    assert sql(db, "SELECT name FROM sqlite_master WHERE name = 'vercel_connections'") == []
    assert_writer_unharmed(report, db, held=longest_hold(down_002, down_001))
    assert integrity(db) == ["ok"]


def test_verify_later_reports_the_servers_new_rows_as_new_and_passes(
    live_db, backup_dir, metamorph_writer
):
    db = live_db(state="legacy")
    operations.migrate(db, backup_dir, take_backup=True)
    writer = metamorph_writer(db)
    writer.wait_for_commits(20)
    checked = operations.verify(db, backup_dir)
    report = writer.stop()

    assert checked["ok"], checked["text"]
    rows = next(c for c in checked["verification"]["checks"] if c["name"] == "row_counts")
    assert "new" in rows["message"] and "restore" not in rows["message"]
    assert_writer_unharmed(report, db)


def test_rehearsal_beside_the_writer_leaves_the_live_file_alone(
    live_db, backup_dir, metamorph_writer
):
    db = live_db(state="legacy", mode="delete")
    writer = metamorph_writer(db)
    with Window() as op:
        outcome = operations.rehearse(db, backup_dir, progress=slow_steps(0.001))
    writer.wait_for_commits(5)
    report = writer.stop()

    assert wrote_during(report, op) >= 1
    assert outcome["ok"], outcome["verification"]
    assert sql(db, "SELECT name FROM sqlite_master WHERE name = 'schema_migrations'") == []
    assert_writer_unharmed(report, db)


def test_preflight_lets_short_server_commits_through_but_names_a_held_write_lock(
    live_db, metamorph_writer
):
    db = live_db(state="legacy")
    writer = metamorph_writer(db, interval=0.001)
    findings = [check_lock(db) for _ in range(20)]
    writer.stop()
    assert all(f.ok for f in findings), [f.message for f in findings if not f.ok]
    with Locker(db) as locker:
        held = check_lock(db)
    assert not held.ok and f"process {locker.pid} has an open write transaction" in held.message
