"""list_backups and verify_backup: only intact backups we wrote are shown as verified."""

import json
import os

import pytest

from metamorph import backup
from metamorph.errors import BackupNotFound, InvalidBackupName

from .conftest import sha256


def flip_byte(path, offset):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def entry(backup_dir, name):
    return next(e for e in backup.list_backups(backup_dir) if e["name"] == name)


def test_list_shows_backups_newest_first_with_their_facts(source, backup_dir):
    first = backup.run_backup(source, backup_dir, label="one")
    second = backup.run_backup(source, backup_dir, label="two", compress=True)

    listed = backup.list_backups(backup_dir)
    assert [e["name"] for e in listed] == [second["name"], first["name"]]
    top = listed[0]
    assert top["state"] == "verified" and top["label"] == "two" and top["compressed"] is True
    assert top["size_bytes"] == os.path.getsize(second["path"])
    assert top["total_rows"] == second["total_rows"]
    assert top["row_totals"] == backup.manifest_row_counts(second)
    assert 0 <= top["age_seconds"] < 60


def test_list_of_a_missing_directory_is_empty(tmp_path):
    assert backup.list_backups(str(tmp_path / "none")) == []


def test_file_without_a_manifest_is_listed_as_unverified(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    os.unlink(result["manifest_path"])

    listed = entry(backup_dir, result["name"])
    assert listed["state"] == "unverified" and "no manifest" in listed["problem"]
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "missing-manifest"
    assert backup.latest_verified_backup(backup_dir) is None


def test_manifest_written_by_someone_else_is_not_trusted(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    manifest = json.load(open(result["manifest_path"]))
    manifest["written_by"] = "a script"
    json.dump(manifest, open(result["manifest_path"], "w"))

    assert entry(backup_dir, result["name"])["state"] == "unverified"


def test_other_files_in_the_directory_are_not_listed(source, backup_dir):
    backup.run_backup(source, backup_dir)
    for name in ("notes.txt", "metamorph.db", "metamorph-backup-latest.db"):
        open(os.path.join(backup_dir, name), "w").close()

    assert len(backup.list_backups(backup_dir)) == 1


def test_a_flipped_byte_is_flagged_by_the_list_and_by_verify(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    flip_byte(result["path"], os.path.getsize(result["path"]) // 2)

    assert entry(backup_dir, result["name"])["state"] == "changed"
    checked = backup.verify_backup(backup_dir, result["name"])
    assert checked["state"] in ("changed", "corrupt") and not checked["ok"]
    assert checked["actual_sha256"] != checked["expected_sha256"] == result["sha256"]


def test_a_change_that_keeps_size_and_mtime_is_caught_by_verify_and_then_listed(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    info = os.stat(result["path"])
    flip_byte(result["path"], 63)  # PRAGMA user_version: the file stays a valid database
    os.utime(result["path"], ns=(info.st_atime_ns, info.st_mtime_ns))
    assert entry(backup_dir, result["name"])["state"] == "verified"  # a stat cannot tell

    checked = backup.verify_backup(backup_dir, result["name"])
    assert checked["state"] == "changed"
    assert "the file changed after it was written" in checked["message"]
    listed = entry(backup_dir, result["name"])
    assert listed["state"] == "changed" and "changed after it was written" in listed["problem"]


def test_a_truncated_backup_is_corrupt(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    os.truncate(result["path"], os.path.getsize(result["path"]) // 2)

    assert entry(backup_dir, result["name"])["state"] == "changed"
    checked = backup.verify_backup(backup_dir, result["name"])
    assert checked["state"] == "corrupt"
    assert checked["message"].startswith("integrity check fails")


def test_a_damaged_compressed_backup_is_caught(source, backup_dir):
    result = backup.run_backup(source, backup_dir, compress=True)
    os.truncate(result["path"], os.path.getsize(result["path"]) - 1000)

    checked = backup.verify_backup(backup_dir, result["name"])
    assert checked["state"] == "corrupt" and "truncated" in checked["message"]
    assert not [n for n in os.listdir(backup_dir) if n.startswith(".")]


def test_verify_writes_nothing_into_the_backup_file(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    before = (sha256(result["path"]), os.stat(result["path"]).st_mtime_ns)

    checked = backup.verify_backup(backup_dir, result["name"])
    assert checked["state"] == "ok"
    assert (sha256(result["path"]), os.stat(result["path"]).st_mtime_ns) == before
    assert sorted(os.listdir(backup_dir)) == [result["name"], result["name"] + ".json"]
    assert entry(backup_dir, result["name"])["last_verification"]["state"] == "ok"


def test_verify_again_accepts_a_backup_copied_without_its_mtime(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    os.utime(result["path"], (1, 1))  # as `cp` without -p would leave it
    assert entry(backup_dir, result["name"])["state"] == "changed"

    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"
    assert entry(backup_dir, result["name"])["state"] == "verified"


@pytest.mark.parametrize(
    "name",
    [
        "../metamorph.db",
        "../../etc/passwd",
        "/etc/passwd",
        "sub/metamorph-backup-20261125-093000.db",
        "metamorph-backup-20261125-093000.db/../../x",
        "",
        ".",
        "..",
        "metamorph.db",
        "metamorph-backup-20261125-093000.db.json",
        ".metamorph-backup-20261125-093000-1-abcdef12.db.partial",
        "metamorph-backup-20261125-093000.db\0",
        None,
    ],
)
def test_names_that_are_not_backup_names_are_refused(backup_dir, source, name):
    with pytest.raises(InvalidBackupName) as err:
        backup.verify_backup(backup_dir, name)
    assert "`python manage.py listbackups`" in str(err.value)
    with pytest.raises(InvalidBackupName):
        backup.restore_backup(source, backup_dir, name)


def test_a_well_formed_name_that_does_not_exist_says_where_to_look(backup_dir):
    with pytest.raises(BackupNotFound) as err:
        backup.verify_backup(backup_dir, "metamorph-backup-20261125-093000.db")
    assert "No backup named metamorph-backup-20261125-093000.db in" in str(err.value)
    assert "`python manage.py listbackups`" in str(err.value)


def test_a_symlink_with_a_backup_name_is_refused(source, backup_dir, tmp_path):
    backup.run_backup(source, backup_dir)
    link = os.path.join(backup_dir, "metamorph-backup-20200101-000000.db")
    os.symlink(source, link)

    with pytest.raises(BackupNotFound) as err:
        backup.verify_backup(backup_dir, os.path.basename(link))
    assert "symbolic link" in str(err.value)
    assert all(e["name"] != os.path.basename(link) for e in backup.list_backups(backup_dir))


def test_latest_verified_backup_skips_changed_ones_and_honours_max_age(source, backup_dir):
    older = backup.run_backup(source, backup_dir)
    newer = backup.run_backup(source, backup_dir)
    flip_byte(newer["path"], 100)
    backup.verify_backup(backup_dir, newer["name"])

    path, created, manifest = backup.latest_verified_backup(backup_dir)
    assert path == older["path"] and manifest["name"] == older["name"]
    assert created.isoformat() == older["created_at"]
    assert backup.latest_verified_backup(backup_dir, max_age_hours=1)[0] == older["path"]
    assert backup.latest_verified_backup(backup_dir, max_age_hours=0) is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"written_by": "metamorph-admin"}'])
def test_a_damaged_manifest_makes_its_backup_unverified_without_breaking_the_list(
    source, backup_dir, content
):
    good = backup.run_backup(source, backup_dir)
    bad = backup.run_backup(source, backup_dir)
    open(bad["manifest_path"], "w").write(content)

    states = {e["name"]: e["state"] for e in backup.list_backups(backup_dir)}
    assert states == {good["name"]: "verified", bad["name"]: "unverified"}
    assert backup.verify_backup(backup_dir, bad["name"])["state"] == "missing-manifest"


def test_a_manifest_with_an_unreadable_date_is_not_trusted(source, backup_dir):
    result = backup.run_backup(source, backup_dir)
    manifest = json.load(open(result["manifest_path"]))
    manifest["created_at"] = "yesterday"
    json.dump(manifest, open(result["manifest_path"], "w"))

    listed = entry(backup_dir, result["name"])
    assert listed["state"] == "unverified" and "created_at" in listed["problem"]


def test_latest_verified_backup_of_one_database_ignores_other_databases(
    source, backup_dir, metamorph_db
):
    other = metamorph_db(state="legacy", sessions=20, vaults=1)
    mine = backup.run_backup(source, backup_dir)
    backup.run_backup(other, backup_dir)

    assert backup.latest_verified_backup(backup_dir, source_path=source)[0] == mine["path"]
    link = os.path.join(os.path.dirname(source), "alias.db")
    os.symlink(source, link)
    assert backup.latest_verified_backup(backup_dir, source_path=link)[0] == mine["path"]
    assert backup.latest_verified_backup(backup_dir, source_path="/elsewhere.db") is None
