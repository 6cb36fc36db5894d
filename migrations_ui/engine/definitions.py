"""Metamorph's migrations 001 and 002 as plans of SQL steps (plain Python, no Django).

A plan is computed against the database as it is, with the same skip rules as
Metamorph's migrator (absent table, existing column, existing index name, missing
column), so running it finishes a half-migrated database instead of breaking it.
"""
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from vaults.metamorph import schema


@dataclass(frozen=True)
class Step:
    """One line of a plan: `sql` is None for a skip."""
    kind: str          # "column", "index", "table", "drop-index", "drop-table"
    target: str        # table or index name
    sql: str | None
    note: str = ""
    table: str = ""

    @property
    def skipped(self):
        return self.sql is None


@dataclass
class Plan:
    migration_id: str
    direction: str
    steps: list = field(default_factory=list)

    def to_run(self):
        return [s for s in self.steps if not s.skipped]

    def summary(self):
        """Counts in the guide's Summary terms."""
        out = {}
        for s in self.steps:
            key = f"{s.kind}:{'skipped' if s.skipped else 'done'}"
            out[key] = out.get(key, 0) + 1
        return out


def _tables(conn):
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    return {r[0] for r in rows}


def _indexes(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def _columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({schema.quote(table)})")]


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
    for ix in schema.MIGRATION_001_INDEXES:
        if ix.table not in tables:
            note = "table does not exist"
        elif ix.name in existing:
            note = "index already exists"
        elif not set(ix.columns) <= columns[ix.table]:
            note = "column missing"
        else:
            note = ""
        sql = None if note else schema.index_ddl(ix, quoted=True, if_not_exists=False)
        plan.steps.append(Step("index", ix.name, sql, note, ix.table))
    return plan


def plan_001_down(conn):
    existing = _indexes(conn)
    plan = Plan("001_add_vault_id", "down")
    for ix in schema.MIGRATION_001_INDEXES:
        sql = f"DROP INDEX IF EXISTS {schema.quote(ix.name)}" if ix.name in existing else None
        plan.steps.append(Step("drop-index", ix.name, sql, "" if sql else "index does not exist",
                               ix.table))
    return plan


def plan_002_up(conn):
    tables, existing = _tables(conn), _indexes(conn)
    plan = Plan("002_add_vercel_sandbox_tables", "up")
    for t in schema.SANDBOX_TABLES:
        sql = None if t in tables else schema.sandbox_table_ddl(t)
        plan.steps.append(Step("table", t, sql, "table already exists" if sql is None else "", t))
    for ix in schema.MIGRATION_002_INDEXES:
        sql = None if ix.name in existing else schema.index_ddl(ix)
        plan.steps.append(Step("index", ix.name, sql,
                               "index already exists" if sql is None else "", ix.table))
    return plan


def plan_002_down(conn):
    tables = _tables(conn)
    plan = Plan("002_add_vercel_sandbox_tables", "down")
    for t in reversed(schema.SANDBOX_TABLES):
        sql = f"DROP TABLE IF EXISTS {schema.quote(t)}" if t in tables else None
        plan.steps.append(Step("drop-table", t, sql, "" if sql else "table does not exist", t))
    return plan


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    plan_up: object
    plan_down: object
    down_warning: str

    @property
    def checksum(self):
        """Stable hash of what the migration does (Metamorph writes but never reads it)."""
        text = repr([(i.name, i.table, i.columns) for i in schema.EXPECTED_INDEXES])
        text += repr(schema.MIGRATION_002_TABLES) + self.id
        return hashlib.sha256(text.encode()).hexdigest()[:8]


MIGRATIONS = (
    Migration("001_add_vault_id", "Add vault_id to the 21 user-scoped tables, composite indexes",
              plan_001_up, plan_001_down,
              "Rolling back 001 drops its indexes and keeps the vault_id columns (SQLite cannot "
              "drop them safely). A full rollback is a restore from backup."),
    Migration("002_add_vercel_sandbox_tables", "Create the Vercel sandbox tables",
              plan_002_up, plan_002_down,
              "Rolling back 002 DROPS vercel_connections, sandboxes and sandbox_resource_usage "
              "with every row in them (OAuth connections included)."),
)
BY_ID = {m.id: m for m in MIGRATIONS}


def iso_now():
    """applied_at as Metamorph writes it (JavaScript's toISOString)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def apply_in_transaction(conn, migration, direction="up"):
    """Plan and run one migration plus its schema_migrations row inside the caller's transaction."""
    plan = (migration.plan_up if direction == "up" else migration.plan_down)(conn)
    for step in plan.to_run():
        conn.execute(step.sql)
    if direction == "up":
        conn.execute("INSERT INTO schema_migrations (id, applied_at, checksum) VALUES (?, ?, ?)",
                     (migration.id, iso_now(), migration.checksum))
    else:
        conn.execute("DELETE FROM schema_migrations WHERE id = ?", (migration.id,))
    return plan
