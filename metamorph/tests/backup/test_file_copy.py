"""The kernel copy of a rollback-journal database: one committed state, byte for byte, in a
child process (its descriptor's close cannot drop this process's locks)."""

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time

from metamorph import backup
from metamorph.backup import copy as copier
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
    # The sha256 read beside the copy dropped what it read of the first attempt.
    assert sha256(result["path"]) == sha256(source) == result["sha256"]
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


def test_the_sha256_is_read_beside_the_copy_not_after_it(source, backup_dir, monkeypatch):
    """The copy is hashed once, as the child writes it: nothing reads the whole copy again."""

    def read_again(*args, **kwargs):
        raise AssertionError("the copy was hashed a second time")

    monkeypatch.setattr(file_copy, "FIRST_CHUNK", 64 * 1024)
    monkeypatch.setattr(copier, "sha256_file", read_again)
    result = backup.run_backup(source, backup_dir, verify="quick")
    assert result["copy_mode"] == "file-steps"
    assert result["sha256"] == result["database_sha256"] == sha256(result["path"])
    monkeypatch.undo()  # the later verification reads the published file, as it should
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"


def test_when_the_read_beside_the_copy_fails_the_copy_is_hashed_after_it(
    source, backup_dir, monkeypatch
):
    monkeypatch.setattr(file_copy.HashBehind, "digest", lambda self: None)
    result = backup.run_backup(source, backup_dir)
    assert result["sha256"] == sha256(result["path"]) == sha256(source)


def _readers_of(path):
    """This process's threads hashing behind a copy, and its descriptors open on `path`."""
    threads = [t for t in threading.enumerate() if t.name == "sha256 behind the copy"]
    fds = [fd for fd in os.listdir("/proc/self/fd") if _points_at(fd, path)]
    return threads, fds


def _points_at(fd, path):
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(path)
    except OSError:
        return False


def test_a_copy_taken_without_its_hash_leaves_no_thread_or_descriptor_behind(source, tmp_path):
    """A rehearsal's or an integrity check's copy (no sha256 wanted): the read beside it ends
    with the copy, in a long-running agent as in one command."""
    dest = tmp_path / "copy.db"
    before = set(_readers_of(dest)[0])
    for _ in range(3):
        dest.write_bytes(b"")
        facts = copier.online_copy(source, str(dest), lambda *a: None)
        assert facts["copy_mode"] == "file-steps" and "hash_behind" not in facts
    threads, fds = _readers_of(dest)
    assert set(threads) - before == set() and fds == []
    assert sha256(dest) == sha256(source)


def test_hash_behind_gives_the_digest_of_the_last_attempt_only(tmp_path):
    """A writer that starts again from an empty file (a restart), shorter the second time:
    the digest is of what the last attempt wrote, whatever was read of the first."""
    path = tmp_path / "copy"
    path.write_bytes(b"")
    behind = file_copy.HashBehind(str(path))
    first = os.urandom(3 * file_copy.CHUNK + 5)
    with open(path, "r+b") as out:
        out.write(first)
        out.flush()
        behind.copied(len(first))
        out.truncate(0)
        behind.restarted()
        second = os.urandom(file_copy.CHUNK + 17)
        out.seek(0)
        out.write(second[: file_copy.CHUNK])
        out.flush()
        behind.copied(file_copy.CHUNK)
        out.write(second[file_copy.CHUNK :])
        out.flush()
        behind.copied(len(second))
    assert behind.digest() == hashlib.sha256(second).hexdigest()
    behind.close()  # after digest: nothing more to stop


def test_hash_behind_gives_no_digest_for_a_file_shorter_than_reported(tmp_path):
    path = tmp_path / "copy"
    path.write_bytes(b"x" * 100)
    behind = file_copy.HashBehind(str(path))
    behind.copied(200)  # more than is there: a copy cut short
    assert behind.digest() is None


def test_hash_behind_closed_mid_copy_stops_its_thread(tmp_path):
    path = tmp_path / "copy"
    path.write_bytes(b"y" * 4096)
    behind = file_copy.HashBehind(str(path))
    behind.copied(1024)
    behind.close()
    assert not behind._thread.is_alive() and behind.digest() is None


def test_hash_behind_still_reading_a_dropped_attempt_when_the_copy_ends(tmp_path, monkeypatch):
    """The reader is held inside the first attempt until the writer has restarted, written
    the second and ended: what it then reads is dropped and the digest is the second's."""
    release, real_pread = threading.Event(), os.pread

    def held_pread(fd, n, offset):
        if threading.current_thread().name == "sha256 behind the copy":
            release.wait(timeout=30)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", held_pread)
    path = tmp_path / "copy"
    path.write_bytes(b"")
    behind = file_copy.HashBehind(str(path))
    with open(path, "r+b") as out:
        out.write(os.urandom(2 * file_copy.CHUNK))
        out.flush()
        behind.copied(2 * file_copy.CHUNK)
        out.truncate(0)
        behind.restarted()
        second = os.urandom(100)
        out.seek(0)
        out.write(second)
        out.flush()
        behind.copied(len(second))
    got = []
    asking = threading.Thread(target=lambda: got.append(behind.digest()))
    asking.start()
    while not behind._ended:  # digest() asked while the reader is still held
        time.sleep(0.001)
    release.set()
    asking.join(timeout=30)
    assert got == [hashlib.sha256(second).hexdigest()]
