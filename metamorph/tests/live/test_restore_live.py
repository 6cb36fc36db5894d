"""Restore beside a running Metamorph: refused, or (forced) without losing a single commit."""

import os

import pytest

from conftest import sql
from metamorph import backup
from metamorph.errors import DatabaseInUse
from metamorph.testing.writer import WriterReport, wait_bound

from .conftest import FORCED_RESTORE_MAX_WAIT, Window, assert_writer_unharmed, integrity, slow_steps


def test_restore_refuses_while_the_server_has_the_file_open_naming_it(
    live_db, backup_dir, metamorph_writer
):
    db = live_db(state="migrated")
    made = backup.run_backup(db, backup_dir)
    writer = metamorph_writer(db)

    with pytest.raises(DatabaseInUse) as err:
        backup.restore_backup(db, backup_dir, made["name"])
    writer.wait_for_commits(5)
    report = writer.stop()

    message = str(err.value)
    assert f"pid {writer.pid} (" in message and "metamorph/testing/writer.py" in message
    assert "Stop Metamorph first" in message and "Nothing was changed" in message
    assert [b["name"] for b in backup.list_backups(backup_dir)] == [made["name"]]
    assert_writer_unharmed(report, db)


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize("shape", ["linked", "observed"])
def test_forced_restore_keeps_every_commit_in_the_live_file_or_the_safety_backup(
    live_db, backup_dir, metamorph_writer, mode, shape
):
    db = live_db(state="migrated", shape=shape, mode=mode)
    made = backup.run_backup(db, backup_dir)
    writer = metamorph_writer(db)
    writer.wait_for_commits(20)  # written after the backup: the restore discards these

    with Window() as op:
        result = backup.restore_backup(
            db, backup_dir, made["name"], force=True, progress=slow_steps(0.001)
        )
    writer.wait_for_commits(10)
    report = writer.stop()

    safety = os.path.join(backup_dir, result["safety_backup"])
    assert_writer_unharmed(report, db, safety, max_wait=FORCED_RESTORE_MAX_WAIT)
    before = WriterReport([c for c in report.committed if c.at < op.start], [], [], 0)
    after = WriterReport([c for c in report.committed if c.at > op.end], [], [], 0)
    assert before.commits >= 20 and after.commits >= 10
    assert before.missing_from(safety) == []  # what the restore discarded is kept
    # ...and really was discarded (sessions and arcs written again later are back).
    rewritten = {c.id for c in report.committed if c.at >= op.start}
    discarded = {(c.table, c.id) for c in before.committed if c.id not in rewritten}
    assert discarded and discarded == set(before.missing_from(db)) - {
        (c.table, c.id) for c in before.committed if c.id in rewritten
    }
    assert after.missing_from(db) == []  # the server goes on in the restored file
    assert result["forced"] and f"pid {writer.pid}" in " ".join(result["holders"])
    # The result says how long the server's writes waited; the writer saw no longer a wait.
    held = result["lock_held_seconds"]
    assert held > 0 and report.max_wait <= wait_bound(held, floor=0.0), (report.describe(), held)
    assert f"safety backup {result['safety_backup']}" in result["message"]
    assert backup.verify_backup(backup_dir, result["safety_backup"])["state"] == "ok"
    assert integrity(db) == ["ok"]
    assert sql(db, "PRAGMA journal_mode")[0][0] == mode
