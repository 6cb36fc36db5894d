"""The full integrity check beside a running Metamorph: a snapshot copy in rollback mode."""

import os
import random

import pytest

from metamorph.backup.integrity import full_integrity_check

from .conftest import Window, assert_writer_unharmed, slow_steps, wrote_during


@pytest.mark.parametrize("mode,method", [("delete", "snapshot copy"), ("wal", "live file")])
def test_integrity_check_beside_the_writer(live_db, backup_dir, metamorph_writer, mode, method):
    db = live_db(state="migrated", mode=mode)
    writer = metamorph_writer(db)
    with Window() as op:
        outcome = full_integrity_check(db, backup_dir, slow_steps(0.02))
    writer.wait_for_commits(5)
    report = writer.stop()

    assert outcome["ok"] and outcome["check"] == "integrity_check"
    assert outcome["method"] == method
    assert wrote_during(report, op) >= 1
    assert_writer_unharmed(report, db)
    leftovers = os.listdir(backup_dir) if os.path.isdir(backup_dir) else []
    assert not [n for n in leftovers if n.endswith(".partial")]  # the scratch copy is gone


def test_the_snapshot_copy_finds_the_live_files_damage(live_db, backup_dir):
    db = live_db(state="migrated", sessions=400)
    size = os.path.getsize(db)
    with open(db, "r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(random.Random(1).randbytes(64 * 1024))
    outcome = full_integrity_check(db, backup_dir)
    assert outcome["method"] == "snapshot copy" and not outcome["ok"]
    assert outcome["messages"] and outcome["messages"] != ["ok"]
