"""SIGKILL at any moment: never a file listed as a valid backup, the source untouched."""

import os

import pytest

from metamorph import backup

from .conftest import killed, run_driver, sha256

# Each PHASE:N is the Nth progress report of that phase (see driver.py): mid-copy, before and
# after hashing, before integrity_check, before counting, between manifest and data file.
KILL_POINTS = ["copy:3", "verify:1", "verify:2", "integrity:1", "count:1", "publish:1"]
# Compressed: gzip started, gzip written, before and after the .gz check, between the links.
COMPRESSED_KILL_POINTS = ["compress:1", "compress:2", "verify:3", "verify:4", "publish:1"]


def assert_nothing_valid_and_source_untouched(backup_dir, source, before):
    assert os.listdir(backup_dir), "the run was killed before it wrote anything"
    assert [e for e in backup.list_backups(backup_dir) if e["state"] == "verified"] == []
    assert sha256(source) == before


@pytest.mark.parametrize("point", KILL_POINTS)
def test_backup_killed_midway_leaves_no_listed_backup(source, backup_dir, point):
    before = sha256(source)

    proc = run_driver("backup", source, backup_dir, "--kill-at", point, "--step-pages", "64")
    assert killed(proc), proc.stderr
    assert_nothing_valid_and_source_untouched(backup_dir, source, before)


@pytest.mark.parametrize("point", COMPRESSED_KILL_POINTS)
def test_compressed_backup_killed_midway_leaves_no_listed_backup(source, backup_dir, point):
    before = sha256(source)

    proc = run_driver("backup", source, backup_dir, "--compress", "--kill-at", point)
    assert killed(proc), proc.stderr
    assert_nothing_valid_and_source_untouched(backup_dir, source, before)


def test_backup_killed_after_publishing_leaves_a_complete_backup(source, backup_dir):
    proc = run_driver("backup", source, backup_dir, "--kill-at", "publish:2")
    assert killed(proc), proc.stderr

    (listed,) = backup.list_backups(backup_dir)
    assert listed["state"] == "verified"
    assert backup.verify_backup(backup_dir, listed["name"])["state"] == "ok"


def test_next_backup_removes_what_killed_runs_left_behind(source, backup_dir):
    for point in ("copy:3", "publish:1"):
        assert killed(
            run_driver("backup", source, backup_dir, "--kill-at", point, "--step-pages", "64")
        )
    leftovers = sorted(os.listdir(backup_dir))
    assert any(n.endswith(".partial") for n in leftovers)
    assert any(n.endswith(".json") for n in leftovers)  # the manifest of the publish:1 run

    result = backup.run_backup(source, backup_dir)
    assert sorted(result["leftovers_removed"]) == leftovers
    assert sorted(os.listdir(backup_dir)) == [result["name"], result["name"] + ".json"]


def test_partial_files_of_a_running_backup_are_left_alone(source, backup_dir):
    os.makedirs(backup_dir)
    mine = os.path.join(
        backup_dir, f".metamorph-backup-20261125-093000-{os.getpid()}-0123abcd.db.partial"
    )
    open(mine, "w").close()
    live_parent = os.getppid()
    theirs = os.path.join(
        backup_dir, f".metamorph-backup-20261125-093000-{live_parent}-0123abcd.db.partial"
    )
    open(theirs, "w").close()

    result = backup.run_backup(source, backup_dir)
    assert result["leftovers_removed"] == []
    assert os.path.exists(mine) and os.path.exists(theirs)
