"""run_backup: a verified, private copy with a manifest that describes it truthfully."""

import json
import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime

import pytest

from metamorph import backup, schema
from metamorph import errors as backup_errors
from metamorph.backup import copy as copier
from metamorph.backup import manifest as manifests

from .conftest import integrity, sha256, table_counts


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_backup_has_the_same_rows_as_the_source(source, backup_dir):
    result = backup.run_backup(source, backup_dir)

    assert table_counts(result["path"]) == table_counts(source)
    assert integrity(result["path"]) == ["ok"]
    assert os.path.basename(result["path"]) == result["name"]


def test_backup_name_is_the_guides_name_plus_utc_time(source, backup_dir):
    result = backup.run_backup(source, backup_dir)

    created = datetime.fromisoformat(result["created_at"])
    assert created.tzinfo == UTC
    assert result["name"] == f"metamorph-backup-{created:%Y%m%d-%H%M%S}.db"


def test_manifest_records_what_the_backup_holds(source, backup_dir):
    result = backup.run_backup(source, backup_dir, label="before 001")
    with open(result["manifest_path"]) as fh:
        manifest = json.load(fh)
    conn = sqlite3.connect(result["path"])
    page_size, page_count = (
        conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count")
    )
    by_vault = dict(conn.execute("SELECT vault_id, COUNT(*) FROM messages GROUP BY 1"))
    conn.close()

    assert manifest["format_version"] == 1 and manifest["written_by"] == "metamorph-admin"
    assert manifest["name"] == result["name"] and manifest["label"] == "before 001"
    assert manifest["source_path"] == os.path.abspath(source)
    assert manifest["source_size_bytes"] == os.path.getsize(source)
    assert manifest["backup_size_bytes"] == os.path.getsize(result["path"])
    assert manifest["sha256"] == manifest["database_sha256"] == sha256(result["path"])
    assert manifest["sqlite_version"] == sqlite3.sqlite_version
    assert (manifest["page_size"], manifest["page_count"]) == (page_size, page_count)
    assert manifest["journal_mode"] == "delete" and manifest["integrity_check"] == "ok"
    assert [m["id"] for m in manifest["applied_migrations"]] == list(schema.MIGRATION_IDS)
    assert backup.manifest_row_counts(manifest) == table_counts(source)
    assert manifest["row_counts"]["messages"]["by_vault"] == by_vault
    assert manifest["compressed"] is False
    assert manifest["copy_seconds"] >= 0 and manifest["verify_seconds"] >= 0
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo == UTC


def test_manifest_never_contains_oauth_tokens(source, backup_dir):
    conn = sqlite3.connect(source)
    tokens = [
        t
        for row in conn.execute("SELECT access_token, refresh_token FROM vercel_connections")
        for t in row
    ]
    conn.close()
    result = backup.run_backup(source, backup_dir)

    text = open(result["manifest_path"]).read()
    assert tokens and not any(token in text for token in tokens)


def test_backup_and_manifest_are_private_and_a_new_directory_is_0700(source, backup_dir):
    old = os.umask(0o022)
    try:
        result = backup.run_backup(source, backup_dir)
    finally:
        os.umask(old)

    assert mode(backup_dir) == 0o700
    assert mode(result["path"]) == 0o600 and mode(result["manifest_path"]) == 0o600


def test_an_existing_open_directory_is_reported_not_changed(source, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    result = backup.run_backup(source, str(shared))

    assert mode(shared) == 0o755
    assert mode(result["path"]) == 0o600
    assert "chmod 700" in result["warnings"][0]


def test_operator_warnings_name_an_open_directory_and_a_copy_that_held_metamorph_long():
    open_dir = "/srv/b is open to other users (mode 0755) and backups hold OAuth tokens"
    quiet = {"warnings": [open_dir], "longest_read_lock_seconds": 0.3}
    assert manifests.operator_warnings(quiet) == [open_dir]
    at_the_line = {"warnings": [], "longest_read_lock_seconds": manifests.HOLD_WARNING_SECONDS}
    assert manifests.operator_warnings(at_the_line) == []
    long_hold = manifests.operator_warnings(
        {"warnings": [open_dir], "longest_read_lock_seconds": 13.03}
    )
    assert long_hold[0] == open_dir
    assert "read lock for 13.0 s" in long_hold[1] and "busy timeout is 5 s" in long_hold[1]
    # A manifest of an older writer, without either field, has nothing to say.
    assert manifests.operator_warnings({}) == []


def test_two_backups_in_the_same_second_get_distinct_names(source, backup_dir):
    names = {backup.run_backup(source, backup_dir)["name"] for _ in range(3)}

    assert len(names) == 3
    assert all(e["state"] == "verified" for e in backup.list_backups(backup_dir))


def test_backup_leaves_no_hidden_work_files(source, backup_dir):
    backup.run_backup(source, backup_dir, compress=True)
    backup.run_backup(source, backup_dir)

    assert not [n for n in os.listdir(backup_dir) if n.startswith(".")]


def test_compressed_backup_records_both_hashes_and_decompresses_to_the_copy(source, backup_dir):
    import gzip
    import hashlib

    result = backup.run_backup(source, backup_dir, compress=True)
    with gzip.open(result["path"], "rb") as fh:
        inner = hashlib.file_digest(fh, "sha256").hexdigest()

    assert result["name"].endswith(".db.gz") and result["compressed"] is True
    assert result["sha256"] == sha256(result["path"])
    assert result["database_sha256"] == inner
    assert result["backup_size_bytes"] < result["database_size_bytes"]
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"


def test_progress_reports_every_phase_in_order(source, backup_dir):
    phases = []
    backup.run_backup(
        source,
        backup_dir,
        compress=True,
        progress=lambda phase, done, total, message: phases.append(phase),
    )
    order = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]

    assert order == [
        "copy",
        "verify",
        "integrity",
        "count",
        "compress",
        "verify",
        "publish",
        "done",
    ]


def test_backup_of_a_wal_database_is_a_single_standalone_file(source, backup_dir):
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("DELETE FROM sessions WHERE rowid % 2 = 0")  # lives only in the -wal
    expected = table_counts(source)
    result = backup.run_backup(source, backup_dir)
    conn.close()

    with open(result["path"], "rb") as fh:
        assert fh.read(20)[18:20] == b"\x01\x01"  # rollback-journal header: no -wal needed
    assert result["journal_mode"] == "wal"
    assert table_counts(result["path"]) == expected
    assert sorted(os.listdir(backup_dir)) == [result["name"], result["name"] + ".json"]


def test_the_sha256_and_the_check_run_side_by_side_not_one_after_the_other(source, monkeypatch):
    check_started, hash_reported = threading.Event(), threading.Event()
    met = {}
    real = copier.integrity_problems

    def check(path, pragma="integrity_check", mapped=False):
        check_started.set()
        met["check saw the hash running"] = hash_reported.wait(timeout=20)
        return real(path, pragma, mapped)

    def progress(phase, done, total, message=""):
        if phase == "verify" and not hash_reported.is_set():
            met["hash saw the check running"] = check_started.wait(timeout=20)
            hash_reported.set()

    monkeypatch.setattr(copier, "integrity_problems", check)
    sha, problems = copier.hash_and_check(source, progress, "verify", "quick_check")
    assert met == {"check saw the hash running": True, "hash saw the check running": True}
    assert (sha, problems) == (sha256(source), [])


def test_verify_quick_runs_quick_check_and_is_recorded(source, backup_dir):
    made = backup.run_backup(source, backup_dir, verify="quick")
    assert (made["verify_mode"], made["verify_check"]) == ("quick", "quick_check")
    assert [e["verify_mode"] for e in backup.list_backups(backup_dir)] == ["quick"]


def test_an_unknown_verify_mode_is_refused_before_anything_is_written(source, backup_dir):
    with pytest.raises(backup_errors.BackupInvalidOption, match="--verify must be full or quick"):
        backup.run_backup(source, backup_dir, verify="fast")
    assert not os.path.exists(backup_dir) or not os.listdir(backup_dir)
