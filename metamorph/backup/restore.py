"""Restoring a verified backup into the live path through SQLite's backup API.

A restore is a downtime operation: it refuses while any other process has the file (or its
-journal/-wal/-shm) open, naming each by pid and command line. Forced, it never loses a commit:
the restore's first step takes the live file's write lock, the safety backup is then read from
the last committed state (a reader sees it while our write transaction is open, in both journal
modes), and only after that backup is verified does the restore go on and commit, all under the
one lock, so no commit can fall between the two. Writing through SQLite instead of copying the
file over it keeps a stale -wal from being replayed over restored pages, and makes the restore
all-or-nothing: killed mid-way, the next opener rolls it back from its journal.
"""

import os
import sqlite3
import time
import urllib.parse

from metamorph import inspect
from metamorph.connection import (
    check_file,
    describe_lock,
    lock_state,
    open_readonly,
    readonly_uri,
    translate_error,
)
from metamorph.errors import (
    BackupNotVerified,
    DamagedDatabase,
    DatabaseInUse,
    DatabaseLocked,
    RestoreNotVerified,
)
from metamorph.holders import processes_holding

from . import copy as copier
from . import files as files
from . import manifest as manifests
from .create import run_backup
from .verify import check_against_manifest

LOCK_PROBE_TIMEOUT = 1.0
# How long the restore waits for readers (e.g. Metamorph queries) before giving up.
RESTORE_BUSY_SECONDS = 10.0
# Retry a busy step soon: Metamorph's transactions take milliseconds.
BUSY_RETRY_SECONDS = 0.005
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def restore_backup(db_path, backup_dir, name, progress=None, safety_backup=True, force=False):
    """Replace the live database's content with verified backup `name`; return a result dict.

    Refuses (DatabaseInUse) while another process has the file open, unless `force`.
    Result: {name, db_path, safety_backup (name or None), row_counts {table: total},
    new_rows {table: rows written by others right after the restore}, journal_mode,
    lock_held_seconds (how long other writers had to wait), copy_seconds, seconds, forced,
    holders [descriptions], damaged_copy, message}.
    """
    report = progress or copier.silent
    started = time.monotonic()
    db_path = os.path.abspath(db_path)
    path = files.existing_backup(backup_dir, name)
    check_file(db_path)
    holders = refuse_if_in_use(db_path, force)
    manifest, problem = manifests.read(path)
    if manifest is None:
        raise BackupNotVerified(name, "missing-manifest", problem)
    work = files.Workspace(os.path.dirname(path))
    try:
        check, source = check_against_manifest(path, manifest, work, report, keep_inner=True)
        if not check["ok"]:
            raise BackupNotVerified(name, check["state"], check["message"])
        holders = refuse_if_in_use(db_path, force) or holders
        safety = _Safety(db_path, backup_dir, report) if safety_backup else None
        copied = _copy_into_live(source, db_path, manifest, report, safety)
    finally:
        work.discard()
    counts, new_rows = _check_restored(db_path, manifest, name, copied["safety_backup"])
    message = _message(name, db_path, copied["safety_backup"], new_rows, copied["damaged_copy"])
    if holders.unreadable and not holders:
        message += (
            f" ({holders.unreadable} processes of other users could not be inspected "
            "for open files: run the restore as root, or make sure Metamorph is stopped, "
            "to be certain no server was using the file.)"
        )
    report("done", 1, 1, message)
    return dict(
        copied,
        name=name,
        db_path=db_path,
        row_counts=counts,
        new_rows=new_rows,
        forced=bool(force),
        holders=[h.describe() for h in holders.processes],
        open_by=[h.pid for h in holders.processes],
        message=message,
        seconds=round(time.monotonic() - started, 3),
    )


def refuse_if_in_use(db_path, force=False):
    """DatabaseInUse naming every other process with the file open (unless `force`)."""
    holders = processes_holding(db_path)
    if holders and not force:
        raise DatabaseInUse(db_path, holders)
    return holders


def _message(name, db_path, safety, new_rows, damaged_copy=None):
    text = f"Restored {name} into {db_path}."
    if damaged_copy:
        text += (
            f" The file it replaced was damaged, so no verified safety backup could be "
            f"made: its pages are kept, unverified, in {damaged_copy} (`sqlite3 "
            f"{damaged_copy} .recover | sqlite3 recovered.db` saves what is readable)."
        )
    if safety:
        text += (
            f" Everything the file held until the restore, including all that was "
            f"written after {name} was taken, is in the safety backup {safety} (taken "
            "under the same lock as the restore, so no commit fell between them): "
            f"`python manage.py restorebackup {safety}` puts it back."
        )
    if new_rows:
        text += (
            f" {sum(new_rows.values())} rows were written by another process right after "
            "the restore (" + ", ".join(f"{t} +{n}" for t, n in new_rows.items()) + ")."
        )
    return text


class _Safety:
    """Takes the pre-restore backup once the restore holds the live file's lock."""

    def __init__(self, db_path, backup_dir, report):
        self.db_path, self.backup_dir, self.report = db_path, backup_dir, report
        self.name = None
        self.damaged_copy = None  # the live file was damaged: its pages, kept unverified

    def take(self, through=None):
        def nested(phase, done, total, message=""):
            self.report("safety-backup", done, total, f"{phase}: {message}")

        self.report("safety-backup", 0, 1, "backing up the live file under the restore's lock")
        try:
            # quick_check, not integrity_check: the server's writes wait for this backup, the
            # copy is page for page the live file's, and restoring it runs the full check.
            self.name = run_backup(
                self.db_path,
                self.backup_dir,
                label="pre-restore",
                progress=nested,
                source=through,
                verify="quick",
            )["name"]
        except DamagedDatabase as exc:
            # Restoring is the cure for a damaged file: keep its pages for `.recover`
            # (outside the verified backups), then go on.
            self.damaged_copy = keep_damaged_copy(self.db_path, self.backup_dir, through)
            self.report(
                "safety-backup",
                1,
                1,
                f"the live file is damaged ({exc.detail}): its "
                f"pages are kept, unverified, in {self.damaged_copy}",
            )


def keep_damaged_copy(db_path, backup_dir, through=None):
    """Copy a damaged database page for page into BACKUP_DIR/damaged/ (0600): not a backup
    (nothing verifies it), the material for `sqlite3 COPY .recover`."""
    directory = os.path.join(backup_dir, "damaged")
    os.makedirs(directory, mode=files.DIR_MODE, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = os.path.join(directory, f"{os.path.basename(db_path)}-damaged-{stamp}-{os.getpid()}")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.FILE_MODE))
    source = through or sqlite3.connect(
        readonly_uri(db_path), uri=True, timeout=copier.SOURCE_BUSY_TIMEOUT
    )
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        if through is None:
            source.close()
    files.fsync_file(path)
    return path


def _rw_uri(path):
    return "file:" + urllib.parse.quote(path) + "?mode=rw"


def _holder(db_path):
    return (
        describe_lock(lock_state(db_path))
        or processes_holding(db_path).describe()
        or "a process holds a lock"
    )


def _step_pages(page_count):
    """Always more than one step: in WAL mode the safety backup runs after the first."""
    return max(1, min(copier.COPY_STEP_PAGES, page_count // 2))


def _copy_into_live(source, db_path, manifest, report, safety):
    started = time.monotonic()
    page_size = manifest["page_size"]
    src = sqlite3.connect(copier.immutable_uri(source), uri=True)
    live = sqlite3.connect(
        _rw_uri(db_path), uri=True, timeout=LOCK_PROBE_TIMEOUT, isolation_level=None
    )
    lock: dict[
        str, float
    ] = {}  # when the restore took the live file's lock: other writers wait from then on
    try:
        src.execute(f"PRAGMA mmap_size = {int(copier.SOURCE_MMAP_BYTES)}")
        pages = _step_pages(src.execute("PRAGMA page_count").fetchone()[0])
        mode = live.execute("PRAGMA journal_mode").fetchone()[0]
        left_wal = mode == "wal" and _leave_wal_for_new_page_size(live, page_size, db_path)
        try:
            if mode == "wal" and not left_wal:
                _restore_wal(src, live, pages, page_size, report, safety, lock)
            else:
                _restore_exclusive(src, live, pages, page_size, report, safety, db_path, lock)
        except _StillBusy:
            raise DatabaseLocked(db_path, _holder(db_path)) from None
        except sqlite3.Error as exc:
            raise translate_error(exc, db_path) from exc
        if left_wal:
            live.execute("PRAGMA locking_mode = NORMAL")
            live.execute("PRAGMA journal_mode = WAL")
        elif mode == "wal":
            live.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        live.close()
        src.close()
    held = time.monotonic() - lock["from"] if "from" in lock else None
    return {
        "journal_mode": mode,
        "safety_backup": safety.name if safety else None,
        "damaged_copy": safety.damaged_copy if safety else None,
        "lock_held_seconds": round(held, 3) if held is not None else None,
        "copy_seconds": round(time.monotonic() - started, 3),
    }


def _restore_exclusive(src, live, pages, page_size, report, safety, db_path, lock):
    """Rollback journal: hold the file's EXCLUSIVE lock from the safety backup to the end.

    The backup API would take it only at its first step, and then no other connection, our
    safety copy included, could read: so the live connection takes it first and keeps it
    (locking_mode=EXCLUSIVE), is the safety backup's source, then the restore's destination.
    """
    _take_exclusive_lock(live, db_path)
    lock["from"] = time.monotonic()
    if safety:
        safety.take(through=live)
    src.backup(
        live, pages=pages, sleep=BUSY_RETRY_SECONDS, progress=_steps(page_size, report, None, lock)
    )


def _take_exclusive_lock(live, db_path):
    deadline = time.monotonic() + RESTORE_BUSY_SECONDS
    while True:
        try:
            live.execute("BEGIN EXCLUSIVE")  # waits LOCK_PROBE_TIMEOUT for readers
            break
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
    live.execute("PRAGMA locking_mode = EXCLUSIVE")  # COMMIT keeps the lock from now on
    live.execute("COMMIT")


def _restore_wal(src, live, pages, page_size, report, safety, lock):
    """WAL: the restore's first step takes the write lock; readers still see the last commit,
    so the safety backup is read then, before the restore goes on and commits."""
    # The first step must not spill into the WAL... it could not be seen, but keep it in memory.
    live.execute(f"PRAGMA cache_size = -{max(2000, 3 * pages * page_size // 1024)}")
    src.backup(
        live,
        pages=pages,
        sleep=BUSY_RETRY_SECONDS,
        progress=_steps(page_size, report, safety, lock),
    )


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


def _steps(page_size, report, safety, lock):
    """Report each step; with `safety`, take it right after the first step (the restore then
    holds the write lock); give up (all rolled back) if readers keep the file busy."""
    safety_done = [safety is None]
    busy_since: list[float | None] = [None]

    def step(status, remaining, total):
        if status in _BUSY_CODES:
            since = busy_since[0] = busy_since[0] or time.monotonic()
            if time.monotonic() - since > RESTORE_BUSY_SECONDS:
                raise _StillBusy()
            return
        busy_since[0] = None
        lock.setdefault("from", time.monotonic())  # a step went through: the lock is ours
        if not safety_done[0]:
            if status != sqlite3.SQLITE_OK:  # never: a restore always takes two steps
                raise RuntimeError("the restore finished before its safety backup")
            safety.take()
            safety_done[0] = True
        done = (total - remaining) * page_size
        report(
            "restore",
            done,
            total * page_size,
            f"{done / 1e6:.1f} of {total * page_size / 1e6:.1f} MB written",
        )

    return step


def _check_restored(db_path, manifest, name, safety):
    """The restored file holds at least every row of the manifest (another process may add
    rows the moment the lock is released) and passes quick_check."""
    with open_readonly(db_path, require_metamorph=False) as conn:
        counts = inspect.vault_row_counts(conn)
        health = inspect.integrity(conn)
    got = {t: e["total"] for t, e in counts["tables"].items() if e["state"] != "absent"}
    want = manifests.manifest_row_counts(manifest)
    mismatches = {
        t: (n, got.get(t, "no table")) for t, n in sorted(want.items()) if got.get(t, -1) < n
    }
    if not health["ok"]:
        mismatches["integrity"] = ("ok", "; ".join(health["messages"][:3]))
    if mismatches:
        raise RestoreNotVerified(db_path, name, mismatches, safety)
    return got, {t: n - want.get(t, 0) for t, n in sorted(got.items()) if n > want.get(t, 0)}


def processes_with_file_open(path):
    """Pids of other processes with `path` (or its side files) open or locked."""
    return [h.pid for h in processes_holding(path).processes]
