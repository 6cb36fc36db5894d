"""The kernel copy of a rollback-journal database: one committed state, byte for byte, in a
child process (its descriptor's close cannot drop this process's locks)."""

import os
import sqlite3
import subprocess
import sys
import time

from metamorph import backup
from metamorph.backup import file_copy

from .conftest import integrity, sha256
from .test_concurrent import writer_transactions_are_whole


def _commit_a_mark(path, mark):
    conn = sqlite3.connect(path, timeout=10)
    with conn:
        conn.execute(
            "UPDATE conversations SET updated_at = ? WHERE rowid = (SELECT MAX(rowid) FROM "
            "conversations)",
            (mark,),
        )
    conn.close()


def _has(path, mark):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM conversations WHERE updated_at = ?", (mark,)
        ).fetchone()[0]
    finally:
        conn.close()


def test_a_quiet_file_is_copied_byte_for_byte_in_small_steps(source, backup_dir, monkeypatch):
    monkeypatch.setattr(file_copy, "FIRST_CHUNK", 64 * 1024)
    before = sha256(source)
    result = backup.run_backup(source, backup_dir)
    assert result["copy_mode"] == "file-steps" and result["copy_restarts"] == 0
    assert sha256(result["path"]) == before == result["sha256"]
    assert sha256(source) == before  # the live file was only read


def test_a_commit_between_two_chunks_restarts_the_copy_which_then_holds_it(
    source, backup_dir, monkeypatch
):
    monkeypatch.setattr(file_copy, "FIRST_CHUNK", 64 * 1024)
    monkeypatch.setattr(
        file_copy, "between_first_chunks", lambda: _commit_a_mark(source, "mid-copy")
    )
    result = backup.run_backup(source, backup_dir)
    assert result["copy_restarts"] == 1 and result["copy_mode"] == "file-steps"
    assert _has(result["path"], "mid-copy")  # the state after the commit, whole
    assert sha256(result["path"]) == sha256(source)
    assert integrity(result["path"]) == ["ok"]


def test_after_the_restarts_allowed_the_copy_holds_the_read_lock_to_the_end(
    source, backup_dir, monkeypatch
):
    monkeypatch.setattr(file_copy, "MAX_RESTARTS", 0)
    result = backup.run_backup(source, backup_dir)
    assert result["copy_mode"] == "file-read-lock"
    assert sha256(result["path"]) == sha256(source)


def test_beside_a_writer_every_copied_transaction_is_whole(
    source, backup_dir, background, monkeypatch
):
    monkeypatch.setattr(file_copy, "FIRST_CHUNK", 64 * 1024)
    writer = background("write", source, ready="writing")
    result = backup.run_backup(source, backup_dir)
    assert writer.alive()  # its busy timeout was never exhausted
    writer.stop()
    assert result["copy_mode"] in ("file-steps", "file-read-lock")
    convs, whole = writer_transactions_are_whole(result["path"])
    assert whole and integrity(result["path"]) == ["ok"]
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"


def test_a_copy_whose_child_cannot_run_falls_back_to_the_backup_api(
    source, backup_dir, monkeypatch
):
    monkeypatch.setattr(file_copy, "CHILD", "import sys; sys.exit(3)")
    result = backup.run_backup(source, backup_dir)
    assert result["copy_mode"] == "steps"
    assert integrity(result["path"]) == ["ok"]


def test_the_child_dies_with_its_parent(source, tmp_path):
    """A killed backupdb leaves no copier running on the live file."""
    target = tmp_path / "copy.db"
    target.write_bytes(b"")
    script = (
        "import os, subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-I', '-c', {file_copy.CHILD!r}, "
        f"{source!r}, {str(target)!r}, '4096', '3', '5', 'gate'], stdin=subprocess.PIPE, "
        "stdout=subprocess.PIPE, text=True)\n"
        "print(child.pid, flush=True)\n"
        "child.stdout.readline(); child.stdout.readline()\n"  # progress, then it waits at the gate
        "os._exit(0)\n"  # the parent goes away while its child waits
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    pid = int(parent.stdout.split()[0])
    # The child was waiting for "go" on stdin; its parent's end closed, it reads EOF, finds
    # itself reparented and exits without copying further.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the copier outlived its parent")
