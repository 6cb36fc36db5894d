"""The online copy of a rollback-journal database as the kernel copies files: ~2.5x faster than
SQLite's backup API here, and the copy is byte for byte the file.

The file is copied in chunks (`os.copy_file_range`), each while holding SQLite's SHARED lock
through a read transaction, so no commit can change the file during a chunk. Every commit
changes the header's file change counter (bytes 24-27; rollback-journal mode always writes it)
and possibly the size: when either differs from the first chunk's, the copy starts again with
bigger chunks, and after MAX_RESTARTS holds the lock from the first chunk to the last (writers
then wait for the copy, as with the backup API's read-lock mode). The last chunk is copied under
the same counter as the first, so the copy is one committed state of the file.

It runs in a short-lived child process: closing the descriptor it opens on the database drops
every POSIX lock its process holds on that file (sqlite.org/howtocorrupt.html), which must never
be this process's (an agent's job thread or heartbeat may hold one). A WAL database, or anything
the child does not expect, is left to the backup API (`None`).
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

from metamorph.units import human_size

FIRST_CHUNK = 16 * 1024 * 1024
CHUNK = 1024 * 1024  # what HashBehind reads at a time
MAX_RESTARTS = 3
# Tests only: a callable run once, between the first chunk and the second, while the child
# waits (a commit made there must restart the copy).
between_first_chunks = None

CHILD = r"""
import json, os, sqlite3, sys, time, urllib.parse

src, dst, chunk, max_restarts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
timeout, gate = float(sys.argv[5]), sys.argv[6] == "gate"
parent = os.getppid()
uri = "file:" + urllib.parse.quote(os.path.abspath(src)) + "?mode=ro"
conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
    print("unsupported: a WAL database", flush=True)
    sys.exit(4)
fi = os.open(src, os.O_RDONLY)
fo = os.open(dst, os.O_WRONLY)
restarts, held, pinned_at, started = 0, 0.0, None, time.monotonic()


def lock():
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()


while True:
    if os.fstat(fo).st_size:
        # Only when there is something to drop (a restart): on ext4 a truncation to zero marks
        # the file for writeback at its close (auto_da_alloc), which held the child ~0.3 s per
        # GB before it could say "done"; the fsync after the copy writes the file back anyway.
        os.ftruncate(fo, 0)
    off, first = 0, None
    pinned = restarts >= max_restarts
    if pinned:
        lock()
        pinned_at = time.monotonic()
    restarted = False
    while True:
        if os.getppid() != parent:
            sys.exit(5)  # the command was killed: its workspace is cleaned up by the next run
        at = time.monotonic()
        if not pinned:
            lock()
        st = os.fstat(fi)
        state = (os.pread(fi, 4, 24), st.st_size)
        if first is None:
            first, first_stat = state, st
        if state != first:
            conn.execute("COMMIT")
            restarted = True
            break
        total = state[1]
        while off < total:
            n = os.copy_file_range(fi, fo, min(chunk, total - off), off, off)
            if n == 0:
                break
            off += n
            if not pinned:
                break
        if not pinned:
            conn.execute("COMMIT")
            held = max(held, time.monotonic() - at)
        print(f"progress {off} {total}", flush=True)
        if off >= total:
            break
        if gate:
            gate = False
            print("gate", flush=True)
            sys.stdin.readline()
    if restarted:
        restarts += 1
        chunk *= 8
        print(f"restart {restarts}", flush=True)
        continue
    if pinned:
        conn.execute("COMMIT")
        held = time.monotonic() - pinned_at
    break
os.close(fi)
conn.close()
os.close(fo)
mode = "file-read-lock" if restarts >= max_restarts else "file-steps"
identity = {"change_counter": int.from_bytes(first[0], "big"), "size_bytes": first[1],
            "device": first_stat.st_dev, "inode": first_stat.st_ino,
            "mtime_ns": first_stat.st_mtime_ns}
print("done " + json.dumps({"copy_restarts": restarts, "copy_mode": mode,
                            "longest_read_lock_seconds": round(held, 6),
                            "source_identity": identity}), flush=True)
"""


IDENTITY = r"""
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
st = os.fstat(fd)
print(json.dumps({"change_counter": int.from_bytes(os.pread(fd, 4, 24), "big"),
                  "size_bytes": st.st_size, "device": st.st_dev, "inode": st.st_ino,
                  "mtime_ns": st.st_mtime_ns}))
"""


def file_identity(db_path):
    """The file's change counter, size, device, inode and mtime, as a copy records them in
    `source_identity`; read by a child process (its descriptor's close drops only its own
    locks), so it may be called while this process holds the write lock. None if unreadable.

    Equal identities mean the same bytes: every commit in rollback-journal mode changes the
    counter, a restore makes a new inode."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", IDENTITY, db_path], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else None


def file_copy(db_path, dest_path, progress, busy_timeout, hash_behind):
    """Copy facts (as online_copy's) of a kernel copy of `db_path` into `dest_path` (an
    existing file we own; not yet fsynced); None when the backup API must do it instead.

    The facts' "hash_behind" is the copy's sha256 in the making (HashBehind): read from the
    copy a chunk behind the child, on the second core, while the kernel copies; with
    `hash_behind=False` (a copy nobody hashes) nothing reads behind it."""
    started = time.monotonic()
    behind = HashBehind(dest_path) if hash_behind else _NOTHING_BEHIND
    gate = "gate" if between_first_chunks else "-"
    args = [db_path, dest_path, str(FIRST_CHUNK), str(MAX_RESTARTS), str(busy_timeout), gate]
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    facts = None
    try:
        assert child.stdout is not None
        for line in child.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "progress":
                copied, total = (int(x) for x in rest.split())
                behind.copied(copied)
                progress("copy", copied, total, f"{_mb(copied)} of {_mb(total)} copied")
            elif kind == "restart":
                behind.restarted()
                progress("copy", 0, 0, "the database changed during the copy: restarting")
            elif kind == "gate" and between_first_chunks and child.stdin:
                between_first_chunks()
                child.stdin.write("go\n")
                child.stdin.flush()
            elif kind == "done":
                facts = json.loads(rest)
    finally:
        if child.poll() is None and facts is None:
            child.kill()
        child.wait()
        if child.returncode != 0 or facts is None:
            behind.close()
    if child.returncode != 0 or facts is None:
        return None
    facts["copy_seconds"] = round(time.monotonic() - started, 3)
    if hash_behind:
        facts["hash_behind"] = behind
    return facts


class _NoHashBehind:
    """What file_copy tells when no sha256 is read behind the copy: nobody listens."""

    def copied(self, n: int) -> None:
        pass

    def restarted(self) -> None:
        pass

    def close(self) -> None:
        pass


_NOTHING_BEHIND = _NoHashBehind()


class HashBehind:
    """The sha256 of a file another process is writing from offset 0 up, read a chunk behind
    it in a thread (pread and hashlib release the GIL), as the writer reports its progress.

    `copied(n)`: the first n bytes are in place; `restarted()`: the writer began again from
    an empty file (what was read is dropped); `digest()`: once every byte is reported, the
    hex digest of exactly the bytes reported, or None when reading failed (the caller hashes
    the file again). Bytes are only read after the writer reported them, and a restart drops
    everything read before it, so the digest is of the file as the last attempt wrote it."""

    def __init__(self, path: str) -> None:
        self._fd: int | None = os.open(path, os.O_RDONLY)
        self._cond = threading.Condition()
        self._attempt, self._target, self._ended, self._closed = 0, 0, False, False
        self._hex: str | None = None
        self._thread = threading.Thread(
            target=self._run, name="sha256 behind the copy", daemon=True
        )
        self._thread.start()

    def copied(self, n: int) -> None:
        with self._cond:
            self._target = n
            self._cond.notify()

    def restarted(self) -> None:
        with self._cond:
            self._attempt, self._target = self._attempt + 1, 0
            self._cond.notify()

    def digest(self) -> str | None:
        self._end()
        return self._hex

    def close(self) -> None:
        """Stop reading (an abandoned copy); safe to call more than once."""
        with self._cond:
            self._closed = True  # whatever is being read now is dropped
        self._end()

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify()
        self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        fd = self._fd
        assert fd is not None
        hasher, at, attempt = hashlib.sha256(), 0, 0
        try:
            while True:
                with self._cond:
                    while attempt == self._attempt and at >= self._target and not self._ended:
                        self._cond.wait()
                    if self._closed:
                        return  # no digest
                    if attempt != self._attempt:
                        hasher, at, attempt = hashlib.sha256(), 0, self._attempt
                        continue
                    if at >= self._target:
                        break  # ended, every reported byte read
                    upto = self._target
                while at < upto:
                    data = os.pread(fd, min(CHUNK, upto - at), at)
                    if not data:  # shorter than reported: a restart, whose line comes next
                        with self._cond:
                            if attempt == self._attempt:
                                if self._ended:
                                    return  # the copy ended shorter than it said: no digest
                                self._cond.wait(0.01)
                        break
                    hasher.update(data)
                    at += len(data)
        except OSError:
            return  # no digest: the caller reads the copy again
        self._hex = hasher.hexdigest()


def _mb(n):
    return human_size(n)
