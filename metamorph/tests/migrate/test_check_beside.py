"""The pre-flight's quick_check runs beside the migration (the second core), once, on the file
as the migration found it; the migration commits only after it passed."""

import os
import sqlite3

import pytest

from metamorph import backup, inspect
from metamorph.migrate import procedures
from metamorph.migrate.errors import MigrationFailed, PreflightRefused

from .helpers import fingerprint


def _applied(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'"
        ).fetchone()[0]
    finally:
        conn.close()


def _commit_a_mark(path):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE sessions SET name = 'changed after the backup' WHERE rowid = 1")
    conn.close()


def _written_since_its_backup(metamorph_db, tmp_path):
    """A legacy file with a verified backup, then a commit: the backup no longer proves it."""
    path = metamorph_db("legacy")
    backup.run_backup(path, str(tmp_path), verify="quick")
    _commit_a_mark(path)
    return path


def _spy_on_the_check(monkeypatch, result=None):
    """Record what the quick_check's connection saw: sessions' columns, from its own snapshot."""
    seen = {}
    real = inspect.integrity

    def integrity(conn, *args, **kwargs):
        seen["sessions columns"] = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
        return result or real(conn, *args, **kwargs)

    monkeypatch.setattr(inspect, "integrity", integrity)
    return seen


def test_the_check_reads_the_file_as_the_migration_found_it_and_one_check_is_enough(
    metamorph_db, tmp_path, monkeypatch
):
    path = _written_since_its_backup(metamorph_db, tmp_path)
    seen = _spy_on_the_check(monkeypatch)
    steps = []
    result = procedures.migrate(path, str(tmp_path), progress=lambda *a: steps.append(a))
    assert result["ok"], result["text"]
    # The check ran after the migration's first statement (beside it), yet saw no vault_id:
    # the migration had written nothing to the file while it read.
    started = next(i for i, s in enumerate(steps) if s[0] == "001_add_vault_id")
    waited = next(i for i, s in enumerate(steps) if s[3].startswith("waiting for the quick_check"))
    assert started < waited
    assert "vault_id" not in seen["sessions columns"]
    findings = {f["name"]: f for f in result["preflight"]["findings"]}
    assert (
        findings["quick_check"]["ok"]
        and "as the migration found it" in (findings["quick_check"]["message"])
    )
    checks = {c["name"]: c for c in result["verification"]["checks"]}
    assert "quick_check" not in checks  # not a second whole-file pass ...
    assert checks["built_indexes"]["ok"]  # ... but every index the run built, read whole
    assert "vault_id" in {
        r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(sessions)")
    }


def test_a_failed_check_beside_the_migration_rolls_it_back_and_writes_nothing(
    metamorph_db, tmp_path, monkeypatch
):
    path = _written_since_its_backup(metamorph_db, tmp_path)
    before = fingerprint(path)
    damaged = {"check": "quick_check", "ok": False, "messages": ["Page 7: bad"], "seconds": 0}
    _spy_on_the_check(monkeypatch, result=damaged)
    steps = []
    with pytest.raises(PreflightRefused) as refused:
        procedures.migrate(path, str(tmp_path), progress=lambda *a: steps.append(a))
    assert "Do not migrate a damaged file" in str(refused.value)
    assert any(s[0] == "001_add_vault_id" for s in steps)  # the statements ran, then rolled back
    assert fingerprint(path)[0] == before[0] and not fingerprint(path)[3]  # no journal left
    assert not _applied(path)


def test_forced_a_damaged_file_is_migrated_with_the_failed_finding_kept(
    metamorph_db, tmp_path, monkeypatch
):
    path = _written_since_its_backup(metamorph_db, tmp_path)
    damaged = {"check": "quick_check", "ok": False, "messages": ["Page 7: bad"], "seconds": 0}
    _spy_on_the_check(monkeypatch, result=damaged)
    result = procedures.migrate(path, str(tmp_path), force=True)
    findings = {f["name"]: f for f in result["preflight"]["findings"]}
    assert not findings["quick_check"]["ok"] and result["preflight"]["forced"]
    assert _applied(path)


def test_when_the_new_indexes_would_not_fit_in_memory_the_check_runs_first(
    metamorph_db, tmp_path, monkeypatch
):
    path = _written_since_its_backup(metamorph_db, tmp_path)
    monkeypatch.setattr(procedures, "memory_for_overlap", lambda: 0)
    seen = _spy_on_the_check(monkeypatch)
    steps = []
    result = procedures.migrate(path, str(tmp_path), progress=lambda *a: steps.append(a))
    assert result["ok"] and "vault_id" not in seen["sessions columns"]
    assert not any(s[3].startswith("waiting for the quick_check") for s in steps)


def test_a_really_damaged_table_is_refused_and_the_file_left_as_it_was(metamorph_db, tmp_path):
    path = metamorph_db("legacy")
    backup.run_backup(path, str(tmp_path), verify="quick")  # taken while the file was sound
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' LIMIT 1"
    ).fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:  # a torn write: one leaf page of messages overwritten
        fh.seek((page - 1) * page_size + 8)
        fh.write(b"\xff" * 64)
    before = fingerprint(path)
    with pytest.raises((PreflightRefused, MigrationFailed)) as failed:
        procedures.migrate(path, str(tmp_path))
    assert "malformed" in str(failed.value) or "damaged" in str(failed.value)
    assert fingerprint(path)[0] == before[0] and not fingerprint(path)[3]
    assert not _applied(path)


def test_a_file_unchanged_since_its_checked_byte_copy_is_not_read_again(
    metamorph_db, tmp_path, monkeypatch
):
    path = metamorph_db("legacy")
    made = backup.run_backup(path, str(tmp_path), verify="quick")
    assert made["copy_mode"].startswith("file-") and made["source_identity"]
    seen = _spy_on_the_check(monkeypatch)
    result = procedures.migrate(path, str(tmp_path))
    assert result["ok"] and "sessions columns" not in seen  # no quick_check ran
    finding = {f["name"]: f for f in result["preflight"]["findings"]}["quick_check"]
    assert finding["ok"] and made["name"] in finding["message"]
    assert "not changed since" in finding["message"]


@pytest.mark.parametrize("change", ["a commit", "a restored file"])
def test_a_file_changed_since_the_backup_is_checked_again(
    metamorph_db, tmp_path, monkeypatch, change
):
    path = metamorph_db("legacy")
    backup.run_backup(path, str(tmp_path), verify="quick")
    if change == "a commit":
        _commit_a_mark(path)
    else:  # same bytes, new file: what a restore leaves
        data = open(path, "rb").read()
        os.unlink(path)
        with open(path, "wb") as fh:
            fh.write(data)
    seen = _spy_on_the_check(monkeypatch)
    result = procedures.migrate(path, str(tmp_path))
    assert result["ok"] and "vault_id" not in seen["sessions columns"]  # checked, beside
