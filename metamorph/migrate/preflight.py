"""Pre-flight checks before a migration: refuse (unless forced) and say why.

The backup check is injected (`latest_verified_backup() -> (path, created_at, manifest)
| None`) so the engine does not depend on how backups are stored.
"""

import os
import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from metamorph import inspect, schema
from metamorph.backup.file_copy import file_identity
from metamorph.connection import HELD_WRITE_SECONDS, describe_lock, held_write_lock, lock_state
from metamorph.errors import DamagedDatabase, MetamorphError
from metamorph.units import human_size

from .db import applied_rows, open_for_reading
from .definitions import MIGRATIONS
from .errors import PreflightRefused

# Bytes per index entry beyond its key: rowid, record header, cell pointer, page slack.
INDEX_ENTRY_OVERHEAD = 16
INDEX_PAGE_FILL = 1.3
SPACE_MARGIN = 16 * 1024 * 1024
SAMPLE_ROWS = 1000


@dataclass
class Finding:
    name: str
    ok: bool
    message: str

    def to_dict(self):
        return {"name": self.name, "ok": self.ok, "message": self.message}


@dataclass
class PreflightReport:
    db_path: str
    findings: list = field(default_factory=list)
    forced: bool = False
    before_counts: dict | None = None  # the backup manifest's row counts, for verification
    backup_path: str | None = None
    index_bytes: int = 0  # what the pending CREATE INDEX steps add, estimated
    pending: tuple[str, ...] = ()
    backup_manifest: dict = field(default_factory=dict)  # the verified backup's, when found

    @property
    def ok(self):
        return all(f.ok for f in self.findings)

    @property
    def refused(self):
        return not self.ok and not self.forced

    def to_dict(self):
        return {
            "db_path": self.db_path,
            "ok": self.ok,
            "forced": self.forced,
            "refused": self.refused,
            "backup_path": self.backup_path,
            "findings": [f.to_dict() for f in self.findings],
        }


def preflight(
    db_path,
    manifest_finder=None,
    max_backup_age_hours=24,
    force=False,
    now=None,
    quick_check=True,
):
    """Run every check; raise PreflightRefused unless all pass or `force` is set.

    `quick_check=False` leaves the whole-file check out: the caller runs it beside the
    migration (`QuickCheckBeside`), before the migration may commit.
    """
    report = PreflightReport(str(db_path), forced=force)
    with open_for_reading(db_path) as conn:
        pending = [m for m in MIGRATIONS if m.id not in applied_rows(conn)]
        report.pending = tuple(m.id for m in pending)
        report.findings.append(
            Finding(
                "pending",
                True,
                f"pending: {', '.join(m.id for m in pending)}"
                if pending
                else "no pending migration: a run changes nothing",
            )
        )
        if quick_check:
            report.findings.append(_quick_check_finding(db_path, inspect.integrity(conn)))
        needed = estimate_index_bytes(conn, [m.plan_up(conn) for m in pending])
        report.index_bytes = needed
    report.findings.append(check_lock(db_path))
    report.findings.append(check_disk_space(db_path, needed))
    report.findings.append(check_backup(report, manifest_finder, max_backup_age_hours, now))
    if report.refused:
        raise PreflightRefused(report)
    return report


def _quick_check_finding(db_path, quick, where=""):
    if quick["ok"]:
        return Finding("quick_check", True, "PRAGMA quick_check: ok" + where)
    damaged = DamagedDatabase.from_check(db_path, quick["messages"])
    return Finding("quick_check", False, f"{damaged} Do not migrate a damaged file.")


class QuickCheckBeside:
    """The pre-flight's `PRAGMA quick_check`, run on a second connection beside the
    migration's first statements instead of before them: the second core checks while the
    first builds indexes.

    It checks exactly the file the migration found: `start()` is called once the migration
    holds the write lock (no other commit can fall in) and the migration keeps every change
    in memory (`PRAGMA cache_spill = OFF`) until `finish()` has the result, so the file on
    disk is the one being checked. `finish()`, called before the commit, adds the finding to
    the pre-flight report and raises PreflightRefused (the migration rolls back: nothing
    written) when the file is damaged, unless the run was forced.
    """

    def __init__(self, report: PreflightReport):
        self.report = report
        self._result: dict = {}
        self._thread: threading.Thread | None = None
        self._finished = False

    def start(self) -> None:
        if self._thread is not None or self._finished:
            return
        if proven := self._unchanged_since_backup():
            self.report.findings.insert(1, Finding("quick_check", True, proven))
            self._finished = True
            return
        self._thread = threading.Thread(target=self._run, name="quick_check beside", daemon=True)
        self._thread.start()

    def _unchanged_since_backup(self) -> str:
        """Why no check is needed, or "": the file is still, byte for byte, the copy the
        verified backup checked (same change counter, size, inode and mtime; called while
        the migration holds the write lock, so it stays so until the commit)."""
        manifest = self.report.backup_manifest
        recorded = manifest.get("source_identity")
        if not recorded or not str(manifest.get("copy_mode", "")).startswith("file-"):
            return ""
        if file_identity(self.report.db_path) != recorded:
            return ""
        return (
            f"PRAGMA {manifest.get('verify_check', 'quick_check')}: ok on the byte-for-byte "
            f"copy {manifest.get('name')} made at {manifest.get('created_at')}; the file has "
            "not changed since (same change counter, size, inode and mtime), so it is not "
            "read again"
        )

    def _run(self) -> None:
        try:
            with open_for_reading(self.report.db_path) as conn:
                self._result.update(inspect.integrity(conn))
        except Exception as exc:  # an unreadable file is a failed check, said as such
            self._result.update(ok=False, messages=[f"could not run: {exc}"])

    def done(self) -> bool:
        return self._finished or (self._thread is not None and not self._thread.is_alive())

    def finish(self) -> None:
        if self._thread is None:
            return
        self._thread.join()
        self._thread, self._finished = None, True
        finding = _quick_check_finding(
            self.report.db_path,
            self._result,
            " (on the file as the migration found it, run beside its first statements)",
        )
        self.report.findings.insert(1, finding)
        if self.report.refused:
            raise PreflightRefused(self.report)


def memory_for_overlap():
    """Bytes the migration may hold in memory while the check beside it runs: a quarter of
    the memory available now, at most 2 GiB."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
    return min(2 * 1024**3, available // 4)


def check_lock(db_path):
    """Refuse a write lock held for long; short commits (a running Metamorph) only wait."""
    held, writers = held_write_lock(db_path)
    if held:
        return Finding(
            "lock",
            False,
            f"{describe_lock(held)} (held for over "
            f"{HELD_WRITE_SECONDS:g} s): stop the Metamorph service (and any "
            "sqlite3 shell) before migrating",
        )
    if writers:
        pids = ", ".join(str(p) for p in writers)
        return Finding(
            "lock",
            True,
            f"process {pids} is writing in short transactions (a "
            "running Metamorph): its writes wait while each migration holds the "
            "write lock; stopping the service first is safest",
        )
    state = lock_state(db_path)
    if state.readers:
        return Finding(
            "lock",
            True,
            f"{describe_lock(state)}; a migration waits for reads to "
            "finish, so stop the Metamorph service first",
        )
    return Finding("lock", True, "no other process holds the file")


def _avg_key_bytes(conn, table, columns, present):
    total = 0.0
    for col in columns:
        if col not in present:
            total += len(schema.DEFAULT_VAULT)  # vault_id that 001 is about to add
            continue
        avg = conn.execute(
            f"SELECT AVG(LENGTH(CAST({schema.quote(col)} AS BLOB))) FROM "
            f"(SELECT {schema.quote(col)} FROM {schema.quote(table)} LIMIT ?)",
            (SAMPLE_ROWS,),
        ).fetchone()[0]
        total += avg or 0
    return total


def estimate_index_bytes(conn, plans):
    """Bytes the pending CREATE INDEX steps will add: rows x sampled key size."""
    tables = inspect.existing_tables(conn)
    total, rows_in = 0, {}
    for p in plans:
        for step in p.to_run():
            if step.kind != "index" or step.table not in tables:
                continue
            ix = _index_def(step.target)
            if step.table not in rows_in:
                rows_in[step.table] = conn.execute(
                    f"SELECT COUNT(*) FROM {schema.quote(step.table)}"
                ).fetchone()[0]
            rows = rows_in[step.table]
            key = _avg_key_bytes(conn, step.table, ix.columns, tables[step.table])
            total += int(rows * (key + INDEX_ENTRY_OVERHEAD) * INDEX_PAGE_FILL)
    return total


def _index_def(name):
    return next(i for i in schema.EXPECTED_INDEXES if i.name == name)


def sqlite_temp_dir():
    """Where SQLite's sorter spills (unix VFS order: SQLITE_TMPDIR, TMPDIR, /var/tmp, /tmp)."""
    for candidate in (
        os.environ.get("SQLITE_TMPDIR"),
        os.environ.get("TMPDIR"),
        "/var/tmp",
        "/usr/tmp",
        "/tmp",
    ):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return "."


def check_disk_space(db_path, index_bytes):
    """The file grows by the new indexes; the sorter may spill as much again to temp."""
    db_dir = os.path.dirname(os.path.abspath(db_path))
    tmp = sqlite_temp_dir()
    same_disk = os.stat(db_dir).st_dev == os.stat(tmp).st_dev
    need_db = index_bytes + SPACE_MARGIN
    need_tmp = index_bytes + SPACE_MARGIN
    free_db, free_tmp = shutil.disk_usage(db_dir).free, shutil.disk_usage(tmp).free
    if same_disk:
        ok = free_db >= need_db + need_tmp
        text = (
            f"about {human_size(need_db + need_tmp)} needed for index builds, "
            f"{human_size(free_db)} free on the disk of {db_dir}"
        )
    else:
        ok = free_db >= need_db and free_tmp >= need_tmp
        text = (
            f"about {human_size(need_db)} needed in {db_dir} ({human_size(free_db)} free) "
            f"and {human_size(need_tmp)} in {tmp} ({human_size(free_tmp)} free)"
        )
    return Finding("disk_space", ok, text if ok else text + ": free space first")


def check_backup(report, finder, max_age_hours, now=None):
    if finder is None:
        return Finding(
            "backup",
            False,
            "no verified backup is known: take one first "
            "(`python manage.py backupdb`, or run with --backup)",
        )
    try:
        found = finder()
    except MetamorphError as exc:
        return Finding("backup", False, f"could not look for backups: {exc}")
    if not found:
        return Finding(
            "backup",
            False,
            "no verified backup found: take one first "
            "(`python manage.py backupdb`, or run with --backup)",
        )
    path, created_at, manifest = found
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    age_h = ((now or datetime.now(UTC)) - created_at).total_seconds() / 3600
    if not os.path.exists(path):
        return Finding(
            "backup", False, f"the latest verified backup {path} no longer exists: take a new one"
        )
    if age_h > max_age_hours:
        return Finding(
            "backup",
            False,
            f"the latest verified backup {path} is {age_h:.1f} h "
            f"old (limit {max_age_hours:g} h): take a fresh one",
        )
    report.backup_path = str(path)
    report.before_counts = (manifest or {}).get("row_counts")
    report.backup_manifest = manifest or {}
    return Finding("backup", True, f"verified backup {path}, {age_h:.1f} h old")
