"""keep=N: old verified backups we wrote go; the newest verified one and foreign files stay."""

import json
import os

import pytest

from metamorph import backup
from metamorph.errors import BackupInvalidOption

from .test_list_verify import flip_byte


def names(backup_dir):
    return [e["name"] for e in backup.list_backups(backup_dir)]


def test_keep_deletes_the_oldest_verified_backups_and_their_manifests(source, backup_dir):
    made = [backup.run_backup(source, backup_dir)["name"] for _ in range(3)]

    result = backup.run_backup(source, backup_dir, keep=2)
    assert result["deleted"] == [made[1], made[0]]
    assert names(backup_dir) == [result["name"], made[2]]
    assert sorted(os.listdir(backup_dir)) == sorted(
        [result["name"], result["name"] + ".json", made[2], made[2] + ".json"]
    )


def test_keep_never_deletes_files_it_did_not_write(source, backup_dir):
    old = backup.run_backup(source, backup_dir)
    foreign = backup.run_backup(source, backup_dir)
    manifest = json.load(open(foreign["manifest_path"]))
    manifest["written_by"] = "someone else"
    json.dump(manifest, open(foreign["manifest_path"], "w"))
    orphan = os.path.join(backup_dir, "metamorph-backup-20200101-000000.db")
    open(orphan, "wb").write(b"SQLite format 3\0" + b"\0" * 100)
    other = os.path.join(backup_dir, "notes.txt")
    open(other, "w").write("keep me")

    result = backup.run_backup(source, backup_dir, keep=1)
    assert result["deleted"] == [old["name"]]
    assert os.path.exists(foreign["path"]) and os.path.exists(orphan) and os.path.exists(other)


def test_changed_backups_are_kept_as_evidence_and_do_not_count(source, backup_dir):
    older = backup.run_backup(source, backup_dir)
    tampered = backup.run_backup(source, backup_dir)
    flip_byte(tampered["path"], 63)

    result = backup.run_backup(source, backup_dir, keep=2)
    assert result["deleted"] == []
    assert set(names(backup_dir)) == {older["name"], tampered["name"], result["name"]}


def test_the_new_backup_is_kept_even_when_an_old_one_looks_newer(source, backup_dir):
    future = backup.run_backup(source, backup_dir)
    manifest = json.load(open(future["manifest_path"]))
    manifest["created_at"] = "2099-01-01T00:00:00+00:00"  # a clock that went backwards since
    json.dump(manifest, open(future["manifest_path"], "w"))
    os.utime(future["path"], ns=(manifest["file_mtime_ns"], manifest["file_mtime_ns"]))

    result = backup.run_backup(source, backup_dir, keep=1)
    assert result["deleted"] == [future["name"]]
    assert names(backup_dir) == [result["name"]]


def test_retention_alone_keeps_at_least_the_newest_verified_backup(source, backup_dir):
    made = [backup.run_backup(source, backup_dir)["name"] for _ in range(2)]

    with pytest.raises(BackupInvalidOption):
        backup.apply_retention(backup_dir, 0)
    assert backup.apply_retention(backup_dir, 1) == [made[0]]
    assert names(backup_dir) == [made[1]]
