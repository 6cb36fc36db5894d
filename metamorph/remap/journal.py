"""The remap journal: one row per moved row (table, rowid, id, old vault, new vault, plan).

Each batch writes its journal rows in the same transaction as its UPDATE, so the journal
is exactly what happened. It lives in its own SQLite file ATTACHed to the Metamorph
connection: SQLite commits a transaction spanning attached files atomically in
rollback-journal mode (through a super-journal), and Metamorph's file gains no table.
WAL mode gives no such cross-file atomicity, so for a database in WAL mode the journal
tables are created inside the Metamorph file instead, named metamorph_admin_remap_*.
"""

import fcntl
import json
import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime

from .. import schema
from ..connection import SQLITE_HEADER
from ..errors import PlanBusy, RemapJournalUnusable
from .batches import begin_immediate

ATTACHED = "remap_journal"
IN_FILE_PREFIX = "metamorph_admin_"
JOURNAL_FILE = "metamorph-admin-remap-journal.sqlite3"
_SUPER_JOURNAL = re.compile(r"-mj[0-9A-Fa-f]{8,9}$")


def default_journal_path(db_path):
    """Beside the Metamorph file: the same volume, kept with it."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), JOURNAL_FILE)


def now():
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """Names of the journal tables as seen from one connection, and the plan records."""

    def __init__(self, conn, schema_name, prefix, path, location):
        self.conn, self.schema, self.path, self.location = conn, schema_name, path, location
        self.plans = f"{schema_name}.{schema.quote(prefix + 'remap_plans')}"
        self.rows = f"{schema_name}.{schema.quote(prefix + 'remap_journal')}"
        self._index = f"{schema_name}.{schema.quote(prefix + 'remap_journal_plan')}"
        self._table_name = prefix + "remap_journal"

    def create(self):
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.plans} (plan_id TEXT PRIMARY KEY, "
            "state TEXT NOT NULL, mode TEXT, db_path TEXT, rule TEXT, fingerprint TEXT, "
            "planned_rows INTEGER, planned TEXT, created_at TEXT, started_at TEXT, "
            "finished_at TEXT, note TEXT)"
        )
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.rows} (j_seq INTEGER PRIMARY KEY, "
            "j_plan TEXT NOT NULL, j_table TEXT NOT NULL, j_rowid INTEGER NOT NULL, "
            "j_row_id TEXT, j_old TEXT, j_new TEXT NOT NULL, j_batch INTEGER NOT NULL, "
            "j_undone INTEGER NOT NULL DEFAULT 0)"
        )
        self.conn.execute(
            f"CREATE INDEX IF NOT EXISTS {self._index} ON "
            f"{schema.quote(self._table_name)} (j_plan, j_table, j_rowid)"
        )
        return self

    def exists(self):
        master = f"{self.schema}.sqlite_master"
        return bool(
            self.conn.execute(
                f"SELECT 1 FROM {master} WHERE type='table' AND name=?", (self._table_name,)
            ).fetchone()
        )

    def record(self, plan_id):
        if not self.exists():
            return None
        cur = self.conn.execute(f"SELECT * FROM {self.plans} WHERE plan_id = ?", (plan_id,))
        row = cur.fetchone()
        if row is None:
            return None
        rec = dict(zip([d[0] for d in cur.description], row))
        rec["planned"] = json.loads(rec["planned"] or "{}")
        return rec

    def start(self, plan, planned, mode):
        self.conn.execute(
            f"INSERT INTO {self.plans} (plan_id, state, mode, db_path, rule, fingerprint, "
            "planned_rows, planned, created_at, started_at) VALUES (?, 'running', ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            (
                plan.plan_id,
                mode,
                plan.db_path,
                json.dumps(plan.rule.to_dict()),
                plan.fingerprint,
                sum(planned.values()),
                json.dumps(planned),
                plan.created_at,
                now(),
            ),
        )

    def set_state(self, plan_id, state, finished=False, note=None):
        self.conn.execute(
            f"UPDATE {self.plans} SET state = ?, finished_at = ?, "
            "note = coalesce(?, note) WHERE plan_id = ?",
            (state, now() if finished else None, note, plan_id),
        )

    def counts(self, plan_id):
        """{table: {"moved": rows journaled and not undone, "undone": …, "skipped": …}}, plus
        "intended" where a batch's rows were journaled ahead and not yet confirmed
        (intents.py: moved or not, the file says)."""
        out: dict[str, dict[str, int]] = {}
        if not self.exists():
            return out
        for table, undone, n in self.conn.execute(
            f"SELECT j_table, j_undone, COUNT(*) FROM {self.rows} WHERE j_plan = ? GROUP BY 1, 2",
            (plan_id,),
        ):
            key = {0: "moved", 1: "undone", 2: "skipped", -1: "intended", -2: "restoring"}.get(
                undone, "other"
            )
            out.setdefault(table, {"moved": 0, "undone": 0, "skipped": 0})[key] = n
        return out

    def last_batch(self, plan_id):
        row = self.conn.execute(
            f"SELECT max(j_batch) FROM {self.rows} WHERE j_plan = ?", (plan_id,)
        ).fetchone()
        return row[0] or 0


def open_journal(conn, db_path, journal_path, create=True):
    """Attach (or, for a WAL database, locate inside it) the journal; create its tables."""
    mode = conn.execute("PRAGMA main.journal_mode").fetchone()[0].lower()
    if mode == "wal":
        journal = Journal(conn, "main", IN_FILE_PREFIX, db_path, "in-database")
    else:
        check_journal_path(db_path, journal_path)
        conn.execute(f"ATTACH DATABASE ? AS {ATTACHED}", (journal_path,))
        if conn.execute(f"PRAGMA {ATTACHED}.journal_mode").fetchone()[0].lower() == "wal":
            conn.execute(f"PRAGMA {ATTACHED}.journal_mode = DELETE")
        journal = Journal(conn, ATTACHED, "", journal_path, "attached-file")
    journal = journal.create() if create else journal
    if journal.location == "attached-file":
        remove_orphan_super_journals(conn, db_path)
    return journal


def remove_orphan_super_journals(conn, db_path):
    """Delete super-journals (`<db>-mjXXXXXXXX`) a commit killed at the wrong moment left.

    Done holding the write lock on both files: taking it rolled back any hot journal
    (which deletes the super-journal it names), and no other process can be inside a
    multi-file commit meanwhile, so a super-journal still there names no hot journal.
    """
    directory = os.path.dirname(os.path.abspath(db_path))
    prefix = os.path.basename(db_path) + "-mj"
    if not any(n.startswith(prefix) for n in os.listdir(directory)):
        return 0
    begin_immediate(conn, db_path)
    try:
        removed = 0
        for name in os.listdir(directory):
            if name.startswith(prefix) and _SUPER_JOURNAL.search(name):
                try:
                    os.unlink(os.path.join(directory, name))
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed
    finally:
        conn.execute("ROLLBACK")


def check_journal_path(db_path, journal_path):
    if not journal_path:
        raise RemapJournalUnusable(journal_path, "no path was given")
    if os.path.abspath(journal_path) == os.path.abspath(db_path) or (
        os.path.exists(journal_path) and os.path.samefile(journal_path, db_path)
    ):
        raise RemapJournalUnusable(journal_path, "it is the Metamorph database itself")
    directory = os.path.dirname(os.path.abspath(journal_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise RemapJournalUnusable(
            journal_path, f"its directory {directory} is missing or not writable"
        )
    if os.path.exists(journal_path) and os.path.getsize(journal_path) > 0:
        with open(journal_path, "rb") as fh:
            if fh.read(16) != SQLITE_HEADER:
                raise RemapJournalUnusable(journal_path, "it exists and is not an SQLite file")


@contextmanager
def runner_lock(journal_path):
    """One execute or undo at a time per journal (an flock beside it; released on exit)."""
    lock_path = f"{journal_path}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RemapJournalUnusable(journal_path, f"its lock file cannot be created ({exc})")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlanBusy(lock_path, os.pread(fd, 32, 0).decode(errors="replace").strip())
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def lock_held(journal_path):
    """True while another process holds the runner lock (a remap or undo is running)."""
    lock_path = f"{journal_path}.lock"
    if not os.path.exists(lock_path):
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
