"""SIGKILL during backup, migrate and restore while Metamorph writes: the file stays whole,
every commit of the server is kept, and running the operation again finishes it."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import sql
from metamorph import backup
from metamorph.migrate import procedures, runner

from .conftest import FORCED_RESTORE_MAX_WAIT, assert_writer_unharmed, integrity

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kill_driver.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def kill_run(*args, env=None):
    """Run the driver until its SIGKILL; assert it really was killed mid-way."""
    done = subprocess.run(
        [sys.executable, DRIVER, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, **(env or {})),
    )
    assert done.returncode == -signal.SIGKILL, (done.stdout[-1500:], done.stderr[-1500:])
    return done


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_backup_killed_beside_the_writer(live_db, backup_dir, metamorph_writer, mode):
    db = live_db(state="migrated", mode=mode)
    writer = metamorph_writer(db)
    kill_run("backup", db, backup_dir, "copy", 6)
    writer.wait_for_commits(10)
    assert backup.list_backups(backup_dir) == []  # nothing half-made is listed
    again = backup.run_backup(db, backup_dir)  # and the next run cleans up and succeeds
    report = writer.stop()

    assert_writer_unharmed(report, db)
    assert integrity(db) == ["ok"]
    assert [b["state"] for b in backup.list_backups(backup_dir)] == ["verified"]
    assert again["leftovers_removed"]


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_migration_killed_inside_its_transaction_beside_the_writer(
    live_db, backup_dir, metamorph_writer, mode
):
    db = live_db(state="legacy", mode=mode)
    writer = metamorph_writer(db)
    # Mid-way through 001's index builds, with pages already spilled into the file.
    kill_run("migrate", db, "001_add_vault_id", 18, env={"MM_CACHE_PAGES": "8"})
    writer.wait_for_commits(10)
    assert [m["applied"] for m in runner.status(db)] == [False, False]
    assert sql(
        db, "SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'vault_id'"
    ) == [(0,)]  # rolled back, whole
    outcome = procedures.migrate(db, backup_dir, take_backup=True)
    writer.wait_for_commits(5)
    report = writer.stop()

    assert outcome["ok"], outcome["text"]
    assert_writer_unharmed(report, db)
    assert integrity(db) == ["ok"]


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize("phase,n", [("restore", 4), ("safety-backup", 3)])
def test_forced_restore_killed_beside_the_writer(
    live_db, backup_dir, metamorph_writer, mode, phase, n
):
    db = live_db(state="migrated", mode=mode)
    made = backup.run_backup(db, backup_dir)
    writer = metamorph_writer(db)
    writer.wait_for_commits(10)
    kill_run("restore", db, backup_dir, made["name"], phase, n)
    writer.wait_for_commits(10)
    # Killed before its commit: the file is the old one, with every commit of the server.
    assert_writer_unharmed(writer.snapshot(), db, max_wait=FORCED_RESTORE_MAX_WAIT)
    assert integrity(db) == ["ok"]
    result = backup.restore_backup(db, backup_dir, made["name"], force=True)
    writer.wait_for_commits(5)
    report = writer.stop()

    safety = os.path.join(backup_dir, result["safety_backup"])
    assert_writer_unharmed(report, db, safety, max_wait=FORCED_RESTORE_MAX_WAIT)
    assert integrity(db) == ["ok"]
