"""Opening a Metamorph file: read-only for inspection, with time bounds and lock probing."""

import fcntl
import os
import sqlite3
import struct
import threading
import time
import urllib.parse
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from . import schema
from .errors import (
    DamagedDatabase,
    DatabaseLocked,
    DatabaseMissing,
    DiskFull,
    EmptyDatabase,
    InterruptedWrite,
    NotAFile,
    NotAMetamorphDatabase,
    NotSQLite,
    QueryTimedOut,
    ReadOnlyDatabase,
    UnreadableDatabase,
)

SQLITE_HEADER = b"SQLite format 3\x00"
# better-sqlite3 waits 5 s; inspection waits less so a page never hangs on a writer.
READ_BUSY_TIMEOUT = 2.0
# A write waits a little for a short Metamorph write, then fails instead of hanging.
WRITE_BUSY_TIMEOUT = 3.0
# SQLite's lock bytes (os_unix.c): a lock on these ranges is how it excludes writers.
_PENDING_BYTE = 0x40000000
_RESERVED_BYTE = _PENDING_BYTE + 1
_SHARED_FIRST = _PENDING_BYTE + 2
_SHARED_SIZE = 510


# Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
# own included (sqlite.org/howtocorrupt.html, "POSIX advisory locks canceled by a separate thread
# doing close()"). An agent's heartbeat reads the file a job of the same process is writing: had
# it opened and closed the file, Metamorph could have written beside the job's transaction. So
# nothing here opens the file itself: the header is read through SQLite (whose unix VFS defers
# such closes), and the lock table comes from /proc/locks. Only where /proc/locks cannot be read
# is a descriptor opened for F_GETLK, and that one is kept open (the oldest of more than
# KEPT_DESCRIPTORS is closed: a process holds locks on a handful of files, not dozens).
KEPT_DESCRIPTORS = 64
_kept: OrderedDict[tuple[int, int], int] = OrderedDict()
_kept_lock = threading.Lock()
_spare: list[int] = []
HEADER_BUSY_TIMEOUT = 0.1


def kept_descriptor(path):
    """A read-only descriptor of `path` that this process keeps open (never close it)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino)
    with _kept_lock:
        fd = _kept.get(key)
        if fd is not None:
            _kept.move_to_end(key)
            return fd
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        opened = os.fstat(fd)
        key = (opened.st_dev, opened.st_ino)  # the file may have been replaced meanwhile
        if key in _kept:  # the path went back to a file we hold one of: never close either
            _spare.append(fd)
            return _kept[key]
        _kept[key] = fd
        while len(_kept) > KEPT_DESCRIPTORS:
            os.close(_kept.popitem(last=False)[1])
        return fd


def _header_connection(path):
    return sqlite3.connect(readonly_uri(path), uri=True, timeout=HEADER_BUSY_TIMEOUT)


def check_file(path):
    """Raise a clear error unless `path` is an existing SQLite file."""
    if not os.path.exists(path):
        raise DatabaseMissing(path, wal_left=os.path.exists(f"{path}-wal"))
    if os.path.isdir(path):
        raise NotAFile(path)
    if os.path.getsize(path) == 0:
        raise EmptyDatabase(path)
    try:
        conn = _header_connection(path)
    except sqlite3.Error:
        return  # cannot even be opened: the caller's own open says why
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        # Only a wrong header is "not SQLite": a lock, a hot journal or damage further in are
        # the next step's to name.
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise NotSQLite(path) from None
    finally:
        conn.close()


def schema_cookie(path):
    """SQLite's schema cookie (header bytes 40-43): it changes with every CREATE, ALTER or DROP,
    never with row writes. None while the file cannot be read this moment (locked for a
    commit, a killed writer's journal)."""
    check_file(path)  # a missing file, a folder...: the operator's words
    try:
        conn = _header_connection(path)
        try:
            return conn.execute("PRAGMA schema_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def readonly_uri(path):
    return "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"


class ClosingConnection(sqlite3.Connection):
    """A connection whose `with` block closes it (sqlite3's own only ends a transaction):
    `with open_readonly(path) as conn:`. Our connections are in autocommit mode and open
    their transactions explicitly, so there is nothing for the block to commit."""

    def __exit__(self, *exc_info):
        self.close()
        return False


def open_readonly(path, timeout=READ_BUSY_TIMEOUT, require_metamorph=True):
    """Open `path` read-only (mode=ro, query_only): inspection can never write to it."""
    check_file(path)
    try:
        conn = sqlite3.connect(
            readonly_uri(path),
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
            factory=ClosingConnection,
        )
        conn.execute("PRAGMA query_only = ON")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise translate_error(exc, path) from None
    if require_metamorph:
        if not tables:
            conn.close()
            raise EmptyDatabase(path)
        if not tables & schema.METAMORPH_TABLES:
            conn.close()
            raise NotAMetamorphDatabase(path, tables)
    return conn


def on_read_only_filesystem(path):
    """True when `path` (a file or folder) lives on a filesystem mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def writable_problem(path):
    """Why this process cannot write `path` (or create its journal beside it), or ''."""
    directory = os.path.dirname(os.path.abspath(path))
    if on_read_only_filesystem(path):
        return "it is on a read-only filesystem (remount it read-write)"
    if not os.access(path, os.W_OK):
        return "the file is read-only for this user or on a read-only volume"
    if not os.access(directory, os.W_OK):
        return f"its directory {directory} is not writable, so no rollback journal can be created"
    return ""


def open_writable(path, timeout=WRITE_BUSY_TIMEOUT, require_metamorph=True):
    """Open an existing Metamorph file for writing (mode=rw: never creates one), autocommit.

    The caller opens every transaction itself (BEGIN IMMEDIATE); nothing is written here.
    """
    check_file(path)
    problem = writable_problem(path)
    if problem:
        raise ReadOnlyDatabase(path, problem)
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
    conn = None
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
            factory=ClosingConnection,
        )
        # The first read also rolls back a hot journal left by a killed writer.
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise translate_write_error(exc, path) from None
    if require_metamorph and not tables & schema.METAMORPH_TABLES:
        conn.close()
        raise (NotAMetamorphDatabase(path, tables) if tables else EmptyDatabase(path))
    return conn


def translate_write_error(exc, path):
    """Like translate_error, for the errors only a writer meets (full disk, read-only file)."""
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc).lower()
    if name == "SQLITE_FULL" or "disk is full" in text:
        return DiskFull(path, str(exc))
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return ReadOnlyDatabase(path, str(exc))
    if name == "SQLITE_CANTOPEN":
        return ReadOnlyDatabase(path, f"{exc}: the journal could not be created")
    return translate_error(exc, path)


def translate_error(exc, path):
    """Turn an sqlite3 error into the operator's words."""
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
        return InterruptedWrite(path)  # a killed writer left a hot journal a reader cannot undo
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return DatabaseLocked(path, describe_lock(lock_state(path)))
    if "not a database" in text or "encrypted" in text:
        return NotSQLite(path)
    if is_damage(exc):
        return DamagedDatabase(path, str(exc))
    return UnreadableDatabase(path, str(exc))


def is_damage(exc):
    """True for SQLite's "the file's structure is broken" errors (SQLITE_CORRUPT...)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc).lower()


@contextmanager
def time_limit(conn, seconds, what="the query"):
    """Interrupt whatever runs on `conn` after `seconds` (Datasette's pattern)."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 20000)
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise QueryTimedOut(what, seconds) from None
        raise
    finally:
        conn.set_progress_handler(None, 0)


@dataclass(frozen=True)
class LockState:
    """Locks other processes hold on the file right now (SQLite's POSIX byte-range locks)."""

    readers: int | None = None  # pid of one process holding a SHARED lock
    writer: int | None = None  # pid holding RESERVED (a write transaction is open)
    exclusive: int | None = None  # pid holding PENDING/EXCLUSIVE (committing)

    @property
    def held(self):
        return bool(self.readers or self.writer or self.exclusive)


def _probe(fd, kind, start, length):
    flock = struct.pack("hhqqi4x", kind, os.SEEK_SET, start, length, 0)
    result = fcntl.fcntl(fd, fcntl.F_GETLK, flock)
    l_type, _, _, _, pid = struct.unpack("hhqqi4x", result)
    return pid if l_type != fcntl.F_UNLCK else None


def lock_state(path):
    """Ask the kernel who holds SQLite's lock bytes (locks of other processes), without taking
    any lock ourselves and without opening the file (see above)."""
    locks = proc_locks(path)
    if locks is None:
        return _probed_lock_state(path)
    me = os.getpid()
    readers = writer = exclusive = None
    for pid, kind, first, last in locks:
        if pid == me:
            continue
        if first <= _PENDING_BYTE <= last:
            exclusive = exclusive or pid
        if first <= _RESERVED_BYTE <= last:
            writer = writer or pid
        if first <= _SHARED_FIRST + _SHARED_SIZE - 1 and last >= _SHARED_FIRST:
            if kind == "WRITE":
                exclusive = exclusive or pid
            else:
                readers = readers or pid
    return LockState(readers=readers, writer=writer, exclusive=exclusive)


def proc_locks(path):
    """[(pid, "READ" | "WRITE", first byte, last byte)] of the POSIX locks on `path`, from
    /proc/locks; None when it cannot be read (or the file cannot be stat'ed: [])."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 1073741825 1073741825" ("->" marks waiters)
        if "->" in fields or len(fields) < 8 or fields[1] != "POSIX" or fields[5] != inode:
            continue
        if not fields[4].isdigit():
            continue
        last = fields[7]
        found.append(
            (int(fields[4]), fields[3], int(fields[6]), 2**63 if last == "EOF" else int(last))
        )
    return found


def _probed_lock_state(path):
    try:
        fd = kept_descriptor(path)  # F_GETLK needs a descriptor; closing it would drop ours
        return LockState(
            readers=_probe(fd, fcntl.F_WRLCK, _SHARED_FIRST, _SHARED_SIZE),
            writer=_probe(fd, fcntl.F_WRLCK, _RESERVED_BYTE, 1),
            exclusive=_probe(fd, fcntl.F_RDLCK, _SHARED_FIRST, _SHARED_SIZE)
            or _probe(fd, fcntl.F_WRLCK, _PENDING_BYTE, 1),
        )
    except OSError:
        return LockState()


# A lock still held after this long is an open write transaction (a sqlite3 shell, a stuck
# process), not one of Metamorph's commits, which take milliseconds.
HELD_WRITE_SECONDS = 0.3


def _turnover(path):
    """What changes with every commit: the file's and its WAL's mtime, and the identity of its
    rollback journal (made and deleted by each transaction). A stat opens nothing, so it cannot
    drop this process's own SQLite locks."""
    marks = []
    for name, mark in (
        (path, lambda st: st.st_mtime_ns),  # a commit writes the file
        (f"{path}-journal", lambda st: st.st_ino),  # each transaction makes its own journal
        (f"{path}-wal", lambda st: st.st_mtime_ns),  # a WAL commit appends to it
    ):
        try:
            marks.append(mark(os.stat(name)))
        except OSError:
            marks.append(None)
    return marks


def held_write_lock(path, seconds=HELD_WRITE_SECONDS, every=0.02):
    """(LockState, pids seen writing): the state if one write transaction stayed open for
    `seconds`, else None, and every pid seen holding the lock meanwhile.

    A server committing many short transactions may hold the lock at every sample on a busy
    machine; its commits change the file (or make a new journal), which an open transaction
    does not: any turnover means short commits, not a held lock."""
    deadline = time.monotonic() + seconds
    seen: set[str] = set()
    first = _turnover(path)
    while True:
        state = lock_state(path)
        holder = state.exclusive or state.writer
        if not holder or _turnover(path) != first:
            return None, sorted(seen | ({holder} if holder else set()))
        seen.add(holder)
        if time.monotonic() >= deadline:
            return state, sorted(seen)
        time.sleep(every)


def describe_lock(state):
    if state.exclusive:
        return f"process {state.exclusive} is committing a write"
    if state.writer:
        return f"process {state.writer} has an open write transaction"
    if state.readers:
        return f"process {state.readers} is reading"
    return ""
