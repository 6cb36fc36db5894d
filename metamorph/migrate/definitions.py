"""Metamorph's migrations 001 and 002 as plans of SQL steps (plain Python, no Django).

A plan is computed against the database as it is, with the same skip rules as
Metamorph's migrator (absent table, existing column, existing index name, missing
column), so running it finishes a half-migrated database instead of breaking it.
The SQL is the SQL of src/db/migrations/00x_*.ts on the feature/multitenancy branch.
"""

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from metamorph import schema

# Metamorph's words for each kind of step, done and skipped (its console output).
DONE_TEXT = {
    "column": "column added successfully",
    "index": "index created successfully",
    "table": "table created successfully",
    "drop-index": "index dropped",
    "drop-table": "table dropped",
}
PLANNED_TEXT = {
    "column": "column to be added",
    "index": "index to be created",
    "table": "table to be created",
    "drop-index": "index to be dropped",
    "drop-table": "table to be dropped",
}
# Summary keys per kind of step: (done, skipped).
COUNT_KEYS = {
    "column": ("columns_added", "columns_skipped"),
    "index": ("indexes_created", "indexes_skipped"),
    "table": ("tables_created", "tables_skipped"),
    "drop-index": ("indexes_dropped", "indexes_absent"),
    "drop-table": ("tables_dropped", "tables_absent"),
}

INDEXES_001 = schema.MIGRATION_001_INDEXES


@dataclass(frozen=True)
class Step:
    """One line of a plan: `sql` is None for a skip."""

    kind: str  # "column", "index", "table", "drop-index", "drop-table"
    target: str  # table or index name
    sql: str | None
    note: str = ""
    table: str = ""

    @property
    def skipped(self):
        return self.sql is None

    def to_dict(self):
        return {
            "kind": self.kind,
            "target": self.target,
            "table": self.table,
            "sql": self.sql,
            "skipped": self.skipped,
            "note": self.note,
        }


@dataclass
class Plan:
    migration_id: str
    direction: str
    steps: list = field(default_factory=list)
    applied: bool = False  # the migration already has its schema_migrations row
    seconds: list = field(default_factory=list)  # per step, filled when the plan runs

    def to_run(self):
        return [s for s in self.steps if not s.skipped]

    def summary(self):
        """Counts per `kind:done|skipped`."""
        out: dict[str, int] = {}
        for s in self.steps:
            key = f"{s.kind}:{'skipped' if s.skipped else 'done'}"
            out[key] = out.get(key, 0) + 1
        return out

    def counts(self):
        """Counts in the Summary's terms: columns_added, indexes_skipped, tables_dropped…"""
        out: dict[str, int] = {}
        for s in self.steps:
            done, skipped = COUNT_KEYS[s.kind]
            out.setdefault(done, 0)
            out.setdefault(skipped, 0)
            out[skipped if s.skipped else done] += 1
        return out

    def to_dict(self):
        steps = [s.to_dict() for s in self.steps]
        for entry, secs in zip(steps, self.seconds):
            entry["seconds"] = secs
        return {
            "migration_id": self.migration_id,
            "direction": self.direction,
            "applied": self.applied,
            "counts": self.counts(),
            "steps": steps,
        }


def _tables(conn):
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    return {r[0] for r in rows}


def _indexes(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def _columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({schema.quote(table)})")]


def _index_skip_reason(ix, tables, existing, columns):
    """Metamorph's order of checks: table, index name, then each key column."""
    if ix.table not in tables:
        return "table does not exist"
    if ix.name in existing:
        return "index already exists"
    for col in ix.columns:
        if col not in columns.get(ix.table, ()):
            return f"column {col} does not exist"
    return ""


def plan_001_up(conn):
    tables = _tables(conn)
    columns = {t: set(_columns(conn, t)) for t in schema.USER_SCOPED_TABLES if t in tables}
    plan = Plan("001_add_vault_id", "up")
    for t in schema.USER_SCOPED_TABLES:
        if t not in tables:
            plan.steps.append(Step("column", t, None, "table does not exist", t))
        elif schema.VAULT_COLUMN in columns[t]:
            plan.steps.append(Step("column", t, None, "column already exists", t))
        else:
            sql = f"ALTER TABLE {schema.quote(t)} ADD COLUMN {schema.VAULT_COLUMN_DDL}"
            plan.steps.append(Step("column", t, sql, "", t))
            columns[t].add(schema.VAULT_COLUMN)
    existing = _indexes(conn)
    for ix in INDEXES_001:
        note = _index_skip_reason(ix, tables, existing, columns)
        index_sql = None if note else schema.index_ddl(ix, quoted=True, if_not_exists=False)
        plan.steps.append(Step("index", ix.name, index_sql, note, ix.table))
    return plan


def plan_001_down(conn):
    # Metamorph drops every one of these names that exists, even one it did not create.
    existing = _indexes(conn)
    plan = Plan("001_add_vault_id", "down")
    for ix in INDEXES_001:
        sql = f"DROP INDEX {schema.quote(ix.name)}" if ix.name in existing else None
        plan.steps.append(
            Step("drop-index", ix.name, sql, "" if sql else "index does not exist", ix.table)
        )
    return plan


def plan_002_up(conn):
    tables, existing = _tables(conn), _indexes(conn)
    columns = {t: set(_columns(conn, t)) for t in schema.SANDBOX_TABLES if t in tables}
    plan = Plan("002_add_vercel_sandbox_tables", "up")
    # Metamorph creates each table, then its indexes, then the next table.
    for t in schema.SANDBOX_TABLES:
        if t in tables:
            plan.steps.append(Step("table", t, None, "table already exists", t))
        else:
            plan.steps.append(Step("table", t, schema.sandbox_table_ddl(t), "", t))
            columns[t] = set(schema.expected_columns(t))
            tables.add(t)
        for ix in (i for i in schema.MIGRATION_002_INDEXES if i.table == t):
            note = _index_skip_reason(ix, tables, existing, columns)
            plan.steps.append(
                Step("index", ix.name, None if note else schema.index_ddl(ix), note, t)
            )
    return plan


def plan_002_down(conn):
    tables = _tables(conn)
    plan = Plan("002_add_vercel_sandbox_tables", "down")
    for t in reversed(schema.SANDBOX_TABLES):  # sandboxes references vercel_connections
        sql = f"DROP TABLE IF EXISTS {schema.quote(t)}" if t in tables else None
        plan.steps.append(Step("drop-table", t, sql, "" if sql else "table does not exist", t))
    return plan


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    plan_up: Callable[[sqlite3.Connection], Plan]
    plan_down: Callable[[sqlite3.Connection], Plan]
    down_warning: str
    down_loses_rows: bool = False

    @property
    def number(self):
        return self.id.split("_", 1)[0]

    @property
    def checksum(self):
        """The value Metamorph's tsc build writes, so our schema_migrations rows equal its own."""
        return schema.METAMORPH_CHECKSUMS[self.id]


MIGRATIONS = (
    Migration(
        "001_add_vault_id",
        "Add vault_id column to all tables for multitenancy support",
        plan_001_up,
        plan_001_down,
        "Rolling back 001 drops its indexes and keeps the vault_id columns (SQLite cannot "
        "drop them safely). A full rollback is a restore from backup.",
    ),
    Migration(
        "002_add_vercel_sandbox_tables",
        "Add vercel_connections, sandboxes, and sandbox_resource_usage tables",
        plan_002_up,
        plan_002_down,
        "Rolling back 002 DROPS vercel_connections, sandboxes and sandbox_resource_usage "
        "with every row in them (OAuth connections included).",
        down_loses_rows=True,
    ),
)
BY_ID = {m.id: m for m in MIGRATIONS}


def iso_now():
    """applied_at as Metamorph writes it (JavaScript's toISOString)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def apply_in_transaction(conn, migration, direction="up", on_step=None):
    """Plan and run one migration plus its schema_migrations row inside the caller's transaction.

    `on_step(index, total, step)` is called before each step, skipped ones included.
    """
    plan = (migration.plan_up if direction == "up" else migration.plan_down)(conn)
    total = len(plan.steps)
    for i, step in enumerate(plan.steps):
        if on_step:
            on_step(i, total, step)
        started = time.perf_counter()
        if not step.skipped:
            conn.execute(step.sql)
        plan.seconds.append(round(time.perf_counter() - started, 4))
    if direction == "up":
        conn.execute(
            "INSERT INTO schema_migrations (id, applied_at, checksum) VALUES (?, ?, ?)",
            (migration.id, iso_now(), migration.checksum),
        )
    else:
        conn.execute("DELETE FROM schema_migrations WHERE id = ?", (migration.id,))
    return plan
