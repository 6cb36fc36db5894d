"""Restoring a verified backup into the live path through SQLite's backup API.

Writing through SQLite instead of copying the file over it is what makes a restore
WAL-safe (a stale -wal beside the live file can never be replayed over restored pages)
and all-or-nothing: the backup API writes in one transaction on the live file, so a
restore killed mid-way is rolled back from its journal by the next opener.
"""
import fcntl
import os
import sqlite3
import struct
import time
import urllib.parse

from metamorph import inspect
from metamorph.connection import (check_file, describe_lock, lock_state, open_readonly,
                                         translate_error)
from metamorph.errors import BackupNotVerified, DatabaseLocked, RestoreNotVerified

from . import copy as copier
from . import files as files
from . import manifest as manifests
from .create import run_backup
from .verify import check_against_manifest

LOCK_PROBE_TIMEOUT = 1.0
# How long the restore waits for a reader (e.g. a Metamorph query) before giving up.
RESTORE_BUSY_SECONDS = 10.0
_WAL_WRITE_LOCK = 120  # first lock byte in the -shm file (wal.c: WALINDEX_LOCK_OFFSET)
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def restore_backup(db_path, backup_dir, name, progress=None, safety_backup=True):
    """Replace the live database's content with verified backup `name`; return a result dict.

    Result: {name, db_path, safety_backup (name or None), row_counts {table: total},
    integrity, seconds, copy_seconds, journal_mode, open_by (pids that have the file open)}.
    """
    report = progress or copier.silent
    started = time.monotonic()
    db_path = os.path.abspath(db_path)
    path = files.existing_backup(backup_dir, name)
    check_file(db_path)
    refuse_if_busy(db_path)
    manifest, problem = manifests.read(path)
    if manifest is None:
        raise BackupNotVerified(name, "missing-manifest", problem)
    work = files.Workspace(os.path.dirname(path))
    try:
        check, source = check_against_manifest(path, manifest, work, report, keep_inner=True)
        if not check["ok"]:
            raise BackupNotVerified(name, check["state"], check["message"])
        refuse_if_busy(db_path)
        safety = _safety_backup(db_path, backup_dir, report) if safety_backup else None
        copied = _copy_into_live(source, db_path, manifest["page_size"], report)
    finally:
        work.discard()
    counts = _check_restored(db_path, manifest, name, safety)
    report("done", 1, 1, f"{name} restored into {db_path}")
    return dict(copied, name=name, db_path=db_path, safety_backup=safety, row_counts=counts,
                open_by=processes_with_file_open(db_path),
                seconds=round(time.monotonic() - started, 3))


def _safety_backup(db_path, backup_dir, report):
    def nested(phase, done, total, message=""):
        report("safety-backup", done, total, f"{phase}: {message}")
    return run_backup(db_path, backup_dir, label="pre-restore", progress=nested)["name"]


def _rw_uri(path):
    return "file:" + urllib.parse.quote(path) + "?mode=rw"


def refuse_if_busy(db_path):
    """Raise DatabaseLocked naming the process when someone holds (or is taking) a write lock.

    The probe's BEGIN IMMEDIATE also rolls back a journal left by a killed writer.
    """
    state = lock_state(db_path)
    holder = describe_lock(state) if state.writer or state.exclusive else _wal_writer(db_path)
    if holder:
        raise DatabaseLocked(db_path, holder)
    conn = sqlite3.connect(_rw_uri(db_path), uri=True, timeout=LOCK_PROBE_TIMEOUT,
                           isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseLocked(db_path, _holder(db_path)) from None
        translated = translate_error(exc, db_path)
        if translated is exc:
            raise
        raise translated from exc
    finally:
        conn.close()


def _holder(db_path):
    return (describe_lock(lock_state(db_path)) or _wal_writer(db_path)
            or "a process holds a write lock")


def _wal_writer(db_path):
    """In WAL mode the write lock lives in the -shm file: ask the kernel who holds it."""
    try:
        fd = os.open(db_path + "-shm", os.O_RDONLY)
    except OSError:
        return ""
    try:
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _WAL_WRITE_LOCK, 1, 0)
        kind, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except OSError:
        return ""
    finally:
        os.close(fd)
    return f"process {pid} has an open write transaction" if kind != fcntl.F_UNLCK else ""


def _copy_into_live(source, db_path, page_size, report):
    started = time.monotonic()
    src = sqlite3.connect(copier.immutable_uri(source), uri=True)
    live = sqlite3.connect(_rw_uri(db_path), uri=True, timeout=LOCK_PROBE_TIMEOUT,
                           isolation_level=None)
    try:
        src.execute(f"PRAGMA mmap_size = {int(copier.SOURCE_MMAP_BYTES)}")
        mode = live.execute("PRAGMA journal_mode").fetchone()[0]
        left_wal = mode == "wal" and _leave_wal_for_new_page_size(live, page_size, db_path)
        try:
            src.backup(live, pages=copier.COPY_STEP_PAGES,
                       progress=_bounded_wait(page_size, report))
        except _StillBusy:
            raise DatabaseLocked(db_path, _holder(db_path)) from None
        if left_wal:
            live.execute("PRAGMA journal_mode = WAL")
        elif mode == "wal":
            live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        live.close()
        src.close()
    return {"journal_mode": mode, "copy_seconds": round(time.monotonic() - started, 3)}


def _leave_wal_for_new_page_size(live, page_size, db_path):
    """The backup API cannot change the page size of a WAL file: restore in rollback mode."""
    if live.execute("PRAGMA page_size").fetchone()[0] == page_size:
        return False
    try:
        mode = live.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        mode = "wal"
    if mode == "wal":  # another connection still has the WAL open
        raise DatabaseLocked(db_path, _holder(db_path) or "another connection uses its WAL")
    return True


class _StillBusy(Exception):
    pass


def _bounded_wait(page_size, report):
    """Report each step; give up (the transaction rolls back) if readers keep the file busy."""
    busy_since = [None]

    def step(status, remaining, total):
        if status in _BUSY_CODES:
            busy_since[0] = busy_since[0] or time.monotonic()
            if time.monotonic() - busy_since[0] > RESTORE_BUSY_SECONDS:
                raise _StillBusy()
            return
        busy_since[0] = None
        done = (total - remaining) * page_size
        report("restore", done, total * page_size,
               f"{done / 1e6:.1f} of {total * page_size / 1e6:.1f} MB written")
    return step


def _check_restored(db_path, manifest, name, safety):
    with open_readonly(db_path, require_metamorph=False) as conn:
        counts = inspect.vault_row_counts(conn)
        health = inspect.integrity(conn)
    got = {t: e["total"] for t, e in counts["tables"].items() if e["state"] != "absent"}
    want = manifests.manifest_row_counts(manifest)
    mismatches = {t: (want.get(t), got.get(t)) for t in sorted(set(want) | set(got))
                  if want.get(t) != got.get(t)}
    if not health["ok"]:
        mismatches["integrity"] = ("ok", "; ".join(health["messages"][:3]))
    if mismatches:
        raise RestoreNotVerified(db_path, name, mismatches, safety)
    return got


def processes_with_file_open(path):
    """Pids of other processes with `path` open (Linux /proc; [] where it cannot tell)."""
    pids, target, me = [], os.path.realpath(path), os.getpid()
    try:
        procs = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
    except OSError:
        return []
    for pid in procs:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                pids.append(int(pid))
        except OSError:
            continue
    return pids
