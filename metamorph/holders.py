"""Which other processes have a Metamorph file open, asked of the kernel (Linux /proc).

Restoring over a file another process uses replaces data under its feet, so a restore must know
who holds it: open file descriptors on the database, its -journal, -wal or -shm (/proc/PID/fd)
and SQLite's locks on the database and its -shm (/proc/locks names every holder, even another
user's process whose fd table we may not read, without opening the file).
"""

import fcntl
import os
import struct
from dataclasses import dataclass

from .connection import kept_descriptor, lock_state, proc_locks

SUFFIXES = ("", "-journal", "-wal", "-shm")
_WAL_LOCKS = (120, 128)  # first byte and end of the WAL locks in the -shm file (wal.c)
_MAX_COMMAND = 160


@dataclass(frozen=True)
class Holder:
    """A process that has the database (or one of its side files) open or locked."""

    pid: int
    command: str
    files: tuple  # names it has open
    locks: tuple  # names it holds a SQLite lock on

    def describe(self):
        what = []
        if self.files:
            what.append(f"{', '.join(self.files)} open")
        if self.locks:
            what.append(f"a lock on {', '.join(self.locks)}")
        return f"pid {self.pid} ({self.command or 'command line unknown'}) has " + " and ".join(
            what
        )


@dataclass(frozen=True)
class Holders:
    processes: tuple
    unreadable: int  # processes whose open files we may not list (other users', no root)

    def __bool__(self):
        return bool(self.processes)

    def describe(self):
        return "; ".join(h.describe() for h in self.processes)


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return ""
    # One line: an argument may hold newlines (python -c "...").
    text = " ".join(" ".join(p.decode("utf-8", "replace").split()) for p in raw.split(b"\0") if p)
    return text if len(text) <= _MAX_COMMAND else text[: _MAX_COMMAND - 1] + "…"


def _targets(path):
    real = os.path.realpath(path)
    return {real + s: os.path.basename(path) + s for s in SUFFIXES}


def _open_by_fd(path, exclude):
    targets, unreadable = _targets(path), 0
    found: dict[int, set[str]] = {}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found, 0
    for pid in pids:
        if pid in exclude:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except PermissionError:
            unreadable += 1
            continue
        except OSError:
            continue  # the process ended meanwhile
        for fd in fds:
            try:
                name = targets.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if name:
                found.setdefault(pid, set()).add(name)
    return found, unreadable


def _lock_holders_from_proc(path):
    """{pid} holding any POSIX lock on `path`, read from /proc/locks (no descriptor of the file
    is opened: closing one would drop this process's own SQLite locks on it); None when
    /proc/locks cannot be read."""
    locks = proc_locks(path)
    return None if locks is None else {pid for pid, _, _, _ in locks}


def _lock_holders(path):
    """Pids holding SQLite locks on the database or its -shm (WAL locks)."""
    found = set()
    for target in (path, path + "-shm"):
        pids = _lock_holders_from_proc(target)
        if pids is None:  # no /proc/locks: ask with F_GETLK (opens the file briefly)
            pids = _lock_holders_by_probe(target)
        found |= {(pid, os.path.basename(target)) for pid in pids}
    return found


def _lock_holders_by_probe(target):
    if not target.endswith("-shm"):
        state = lock_state(target)
        return {p for p in (state.exclusive, state.writer, state.readers) if p}
    try:
        fd = kept_descriptor(target)  # closing a descriptor would drop our own WAL locks
        first, end = _WAL_LOCKS
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, first, end - first, 0)
        kind, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except OSError:
        return set()
    return {pid} if kind != fcntl.F_UNLCK else set()


def processes_holding(path):
    """Holders of `path` other than this process: open descriptors and SQLite lock bytes."""
    me = os.getpid()
    found, unreadable = _open_by_fd(path, {me})
    locks: dict[int, set[str]] = {}
    for pid, name in _lock_holders(path):
        if pid != me:
            locks.setdefault(pid, set()).add(name)
    holders = tuple(
        Holder(
            pid,
            command_line(pid),
            tuple(sorted(found.get(pid, ()))),
            tuple(sorted(locks.get(pid, ()))),
        )
        for pid in sorted(set(found) | set(locks))
    )
    return Holders(holders, unreadable)
