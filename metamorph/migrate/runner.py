"""Status, plan, run and roll back Metamorph's migrations on one file.

The command, the background task and the web view all call these functions. Each
migration (its DDL plus its schema_migrations row) is one transaction opened with
BEGIN IMMEDIATE, so the write lock is taken up front: a run either fails at once,
before changing anything, or commits the whole migration.
"""

import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from metamorph import schema
from metamorph.connection import WRITE_BUSY_TIMEOUT, open_writable, translate_write_error

from . import report
from .db import applied_rows, count_rows, open_for_reading, resolve, table_names
from .definitions import MIGRATIONS, apply_in_transaction
from .errors import MigrationFailed, MigrationNotApplied, UnknownAppliedMigration, UnknownMigration

# Index builds: SQLite's default cache and temp_store were fastest (a 1 GB cache or temp_store=MEMORY
# made two CREATE INDEX on 1.5 M rows 1.7-2.8x slower, measured on a 2-core machine);
# threads lets the sorter use the second core. A build without thread support ignores it.
BUILD_PRAGMAS = ("PRAGMA threads = 2",)


@dataclass
class MigrationOutcome:
    """What happened to one migration in a run or a rollback."""

    migration_id: str
    description: str
    direction: str
    status: str  # "applied", "already applied", "rolled back"
    plan: Any = None  # the Plan that ran (definitions.Plan)
    seconds: float = 0.0
    applied_at: str | None = None
    checksum: str | None = None
    rows_lost: dict = field(default_factory=dict)
    # {table: rows} read inside the migration's own transaction, before its first statement
    # and after its last: no concurrent write can fall between them.
    rows_before: dict = field(default_factory=dict)
    rows_after: dict = field(default_factory=dict)

    def counts(self):
        return self.plan.counts() if self.plan else {}

    def to_dict(self):
        return {
            "migration_id": self.migration_id,
            "description": self.description,
            "direction": self.direction,
            "status": self.status,
            "seconds": self.seconds,
            "applied_at": self.applied_at,
            "checksum": self.checksum,
            "counts": self.counts(),
            "rows_lost": self.rows_lost,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "steps": self.plan.to_dict()["steps"] if self.plan else [],
        }


@dataclass
class RunResult:
    """A whole run: one outcome per migration considered, JSON-ready through to_dict()."""

    db_path: str
    direction: str
    started_at: str
    migrations: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def columns_added(self):
        """Tables whose vault_id this run added: their rows are legacy, so default-vault."""
        return [
            s.target
            for m in self.migrations
            if m.plan
            for s in m.plan.to_run()
            if s.kind == "column"
        ]

    @property
    def indexes_built(self):
        """(table, index) of every CREATE INDEX this run executed."""
        return [
            (s.table, s.target)
            for m in self.migrations
            if m.plan
            for s in m.plan.to_run()
            if s.kind == "index"
        ]

    @property
    def text(self):
        return report.format_result_text(self)

    def to_dict(self):
        return {
            "db_path": self.db_path,
            "direction": self.direction,
            "ok": True,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "columns_added": self.columns_added,
            "migrations": [m.to_dict() for m in self.migrations],
            "text": self.text,
        }


def status(db_path):
    """One entry per known migration (and per unknown recorded one): applied, when, checksum."""
    with open_for_reading(db_path) as conn:
        applied = applied_rows(conn)
    out = [
        {
            "id": m.id,
            "description": m.description,
            "applied": m.id in applied,
            "applied_at": applied.get(m.id, {}).get("applied_at"),
            "checksum": applied.get(m.id, {}).get("checksum"),
            "pending": m.id not in applied,
            "checksum_note": schema.checksum_note(m.id, applied.get(m.id, {}).get("checksum")),
            "known": True,
        }
        for m in MIGRATIONS
    ]
    known = {m.id for m in MIGRATIONS}
    out += [
        {
            "id": i,
            "description": "not known to metamorph-admin",
            "applied": True,
            "applied_at": row["applied_at"],
            "checksum": row["checksum"],
            "pending": False,
            "checksum_note": "",
            "known": False,
        }
        for i, row in applied.items()
        if i not in known
    ]
    return out


def plan(db_path, migration_id=None, direction="up"):
    """The Plans (exact SQL and skips) a run or a rollback would execute; reads only."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    with open_for_reading(db_path) as conn:
        applied = applied_rows(conn)
        if direction == "down":
            target = _rollback_target(db_path, applied, migration_id)
            plans = [target.plan_down(conn)]
        else:
            targets = (
                [resolve(migration_id)]
                if migration_id
                else [m for m in MIGRATIONS if m.id not in applied]
            )
            plans = [m.plan_up(conn) for m in targets]
        for p in plans:
            p.applied = p.migration_id in applied
        return plans


def format_plan_text(plans, show_sql=True):
    """The plan in Metamorph's console format, with the SQL under each step to run."""
    return report.format_plan_text(plans, show_sql=show_sql)


class Beside(Protocol):
    """A read-only check run beside the first migration that changes the file (the
    pre-flight's quick_check): started once that migration holds the write lock, finished
    before it commits; finish() raises to roll the migration back."""

    def start(self) -> None: ...
    def done(self) -> bool: ...
    def finish(self) -> None: ...


def run_migrations(
    db_path,
    migration_id=None,
    progress=None,
    busy_timeout=WRITE_BUSY_TIMEOUT,
    beside: Beside | None = None,
):
    """Apply the pending migrations (or the one named) in id order, each in one transaction.

    `beside` runs next to the first migration that has work (see Beside); while it runs that
    migration keeps its changes in memory (`cache_spill = OFF`), so the file on disk stays
    exactly the one the check reads until the check is over.
    """
    targets = [resolve(migration_id)] if migration_id else list(MIGRATIONS)
    result = RunResult(str(db_path), "up", _now())
    started = time.monotonic()
    conn = open_writable(db_path, timeout=busy_timeout)
    try:
        for pragma in BUILD_PRAGMAS:
            conn.execute(pragma)
        for migration in targets:
            outcome = _apply(conn, db_path, migration, progress, beside=beside)
            result.migrations.append(outcome)
            if outcome.plan is not None:
                beside = None  # it ran beside this one
    finally:
        conn.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result


def rollback_preview(db_path, migration_id=None):
    """What a rollback would do and lose (rows per dropped table); reads only."""
    with open_for_reading(db_path) as conn:
        target = _rollback_target(db_path, applied_rows(conn), migration_id)
        down = target.plan_down(conn)
        down.applied = True
        lost = _rows_in(conn, [s.target for s in down.to_run() if s.kind == "drop-table"])
    return {
        "migration_id": target.id,
        "description": target.description,
        "warning": target.down_warning,
        "keeps_columns": target.id == "001_add_vault_id",
        "rows_lost": lost,
        "total_rows_lost": sum(lost.values()),
        "requires_fresh_backup": target.down_loses_rows,
        "plan": down.to_dict(),
        "text": report.format_plan_text([down], rows_lost=lost),
    }


def rollback(db_path, migration_id=None, progress=None, busy_timeout=WRITE_BUSY_TIMEOUT):
    """Run the down step of the latest applied (or the named) migration and delete its row."""
    result = RunResult(str(db_path), "down", _now())
    started = time.monotonic()
    conn = open_writable(db_path, timeout=busy_timeout)
    try:
        target = _rollback_target(db_path, applied_rows(conn), migration_id)
        result.migrations.append(_apply(conn, db_path, target, progress, direction="down"))
    finally:
        conn.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _rollback_target(db_path, applied, migration_id):
    if migration_id:
        migration = resolve(migration_id)
        if migration.id not in applied:
            raise MigrationNotApplied(db_path, migration.id, sorted(applied))
        return migration
    if not applied:
        raise MigrationNotApplied(db_path, None, ())
    latest = max(applied)
    try:
        return resolve(latest)
    except UnknownMigration:
        raise UnknownAppliedMigration(db_path, latest) from None


def _apply(conn, db_path, migration, progress, direction="up", beside=None):
    """One migration, up or down, in one BEGIN IMMEDIATE transaction."""
    if direction == "up" and migration.id in applied_rows(conn):
        return _outcome(migration, direction, "already applied", applied_rows(conn))
    started = time.monotonic()
    _begin_immediate(conn, db_path)
    where = {"step": "the start of the transaction"}
    rows: dict[str, dict[str, int]] = {}
    try:
        plan, lost = _in_transaction(
            conn, db_path, migration, direction, progress, where, rows, beside
        )
    except sqlite3.Error as exc:
        _rollback_quietly(conn)
        raise MigrationFailed(
            migration.id, where["step"], translate_write_error(exc, db_path)
        ) from None
    except BaseException:  # a progress callback may raise to cancel: nothing is kept
        _rollback_quietly(conn)
        raise
    if plan is None:
        return _outcome(migration, direction, "already applied", applied_rows(conn))
    status = "applied" if direction == "up" else "rolled back"
    outcome = _outcome(migration, direction, status, applied_rows(conn), plan)
    outcome.seconds = round(time.monotonic() - started, 4)
    outcome.rows_lost = lost
    outcome.rows_before, outcome.rows_after = rows["before"], rows["after"]
    _report(
        progress,
        migration.id,
        len(plan.steps),
        len(plan.steps),
        f"{migration.id} {status} in {outcome.seconds:.2f} s",
    )
    return outcome


def _in_transaction(conn, db_path, migration, direction, progress, where, rows, beside=None):
    """Between BEGIN IMMEDIATE and COMMIT: (plan, rows lost), or (None, {}) if already done.

    Fills rows["before"] / rows["after"] with the row counts at both ends of the transaction.
    """
    where["step"] = "counting rows before the first statement"
    rows["before"] = count_rows(conn)
    if direction == "up":
        # Inside the transaction (Metamorph creates it just before): a failed first run
        # then leaves no trace at all, and the end state is the same.
        where["step"] = "creating the schema_migrations table"
        conn.execute(schema.SCHEMA_MIGRATIONS_DDL)
    applied = applied_rows(conn)  # re-read under the lock: another run may have finished
    if (migration.id in applied) == (direction == "up"):
        conn.execute("ROLLBACK")
        if direction == "up":
            return None, {}
        raise MigrationNotApplied(db_path, migration.id, sorted(applied))
    lost = {}
    if direction == "down" and migration.down_loses_rows:
        lost = _rows_in(conn, schema.SANDBOX_TABLES)
    on_step = _step_reporter(migration, progress, where)
    if beside is not None:
        on_step = _alongside(conn, beside, on_step)
    plan = apply_in_transaction(conn, migration, direction, on_step=on_step)
    where["step"] = "counting rows after the last statement"
    rows["after"] = count_rows(conn)
    if beside is not None:
        where["step"] = "the pre-flight check beside the migration"
        _report(progress, "preflight", 0, 1, "waiting for the quick_check beside the migration")
        beside.finish()  # raises (the caller rolls back) when the file must not be migrated
        conn.execute("PRAGMA cache_spill = ON")
    where["step"] = "the commit"
    _report(progress, migration.id, len(plan.steps), len(plan.steps), "committing")
    conn.execute("COMMIT")
    return plan, lost


def _alongside(conn, beside, on_step):
    """Start `beside` with the first statement, changes held in memory until it is done."""
    state = {"started": False, "spilling": False}

    def step(index, total, plan_step):
        if not state["started"]:
            conn.execute("PRAGMA cache_spill = OFF")
            beside.start()
            state["started"] = True
        elif not state["spilling"] and beside.done():
            conn.execute("PRAGMA cache_spill = ON")
            state["spilling"] = True
        on_step(index, total, plan_step)

    return step


def _outcome(migration, direction, status, applied, plan=None):
    row = applied.get(migration.id, {})
    return MigrationOutcome(
        migration.id,
        migration.description,
        direction,
        status,
        plan,
        applied_at=row.get("applied_at"),
        checksum=row.get("checksum"),
    )


def _begin_immediate(conn, db_path):
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise translate_write_error(exc, db_path) from None


def _rollback_quietly(conn):
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # closing the connection rolls back as well


def _step_reporter(migration, progress, where):
    def on_step(index, total, step):
        where["step"] = f"`{step.sql}`" if step.sql else step.target
        _report(progress, migration.id, index, total, report.step_progress_text(step))

    return on_step


def _report(progress, phase, done, total, message):
    if progress:
        progress(phase, done, total, message)


def _rows_in(conn, tables):
    present = table_names(conn)
    return {
        t: conn.execute(f"SELECT COUNT(*) FROM {schema.quote(t)}").fetchone()[0]
        for t in tables
        if t in present
    }


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds")
