"""A backup taken while Metamorph writes: consistent, verified, and the server loses nothing."""

import pytest

from metamorph import backup
from metamorph.backup import copy as backup_copy
from metamorph.backup import file_copy
from metamorph.testing.writer import wait_bound

from .conftest import Window, assert_writer_unharmed, integrity, slow_steps, wrote_during


@pytest.fixture
def small_steps(monkeypatch):
    monkeypatch.setattr(backup_copy, "COPY_STEP_PAGES", 16)
    monkeypatch.setattr(file_copy, "FIRST_CHUNK", 16 * 4096)


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize("shape", ["linked", "observed"])
def test_backup_beside_the_writer_loses_nothing_and_verifies(
    live_db, backup_dir, metamorph_writer, small_steps, mode, shape
):
    db = live_db(state="migrated", shape=shape, mode=mode)
    writer = metamorph_writer(db)
    with Window() as op:
        made = backup.run_backup(db, backup_dir, progress=slow_steps(0.001))
    writer.wait_for_commits(5)
    report = writer.stop()

    assert wrote_during(report, op) >= 1
    assert_writer_unharmed(report, db)
    assert backup.verify_backup(backup_dir, made["name"])["state"] == "ok"
    assert integrity(made["path"]) == ["ok"] and integrity(db) == ["ok"]
    # The copy is one moment of the file: every commit before the backup began is in it.
    before = [c for c in report.committed if c.at < op.start]
    assert before and not set(report.__class__(before, [], [], 0).missing_from(made["path"]))
    if mode == "wal":
        assert made["copy_restarts"] == 0


def test_a_backup_says_how_long_metamorphs_commits_waited_for_its_copy(
    live_db, backup_dir, metamorph_writer, small_steps
):
    db = live_db(state="migrated")
    writer = metamorph_writer(db)
    made = backup.run_backup(db, backup_dir, progress=slow_steps(0.002))
    report = writer.stop()
    held = made["longest_read_lock_seconds"]
    assert made["copy_mode"] in ("steps", "read-lock", "file-steps", "file-read-lock")
    assert held > 0
    # The writer cannot have waited longer than the copy held its lock (plus a commit).
    assert report.max_wait <= wait_bound(held, floor=0.0), (report.describe(), held)
