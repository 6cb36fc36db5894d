"""Verification after a migration: the checks the guide makes operators type by hand.

Metamorph keeps writing while an operator verifies, so row counts are compared in two honest
ways: exactly, with the counts the migration took inside its own transaction (before its first
statement and after its last, where no other write can fall); and against the backup's
manifest, where no row may be missing but rows written since are reported as new. Then every
vault_id column is Metamorph's,
every expected index exists with its columns, legacy rows sit in default-vault,
the canonical vault-scoped queries use an index, and the file passes quick_check.
"""

import re
import sqlite3
import time
from dataclasses import dataclass, field

from metamorph import indexes, inspect, schema
from metamorph.errors import DamagedDatabase

from .db import applied_rows, count_rows, open_for_reading
from .definitions import INDEXES_001

# PRAGMA table_info of vault_id: (type, notnull, default, pk), as 001 / 002 create it.
# PRAGMA table_info's (type, notnull, dflt_value, pk) for vault_id: 001 gives it a default.
VAULT_COLUMN_001: tuple[str, int, str | None, int] = ("TEXT", 1, "'default-vault'", 0)
VAULT_COLUMN_002: tuple[str, int, str | None, int] = ("TEXT", 1, None, 0)
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    details: list = field(default_factory=list)

    def to_dict(self):
        return {"name": self.name, "ok": self.ok, "message": self.message, "details": self.details}


@dataclass
class Verification:
    db_path: str
    checks: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return all(c.ok for c in self.checks)

    def to_dict(self):
        return {
            "db_path": self.db_path,
            "ok": self.ok,
            "seconds": self.seconds,
            "checks": [c.to_dict() for c in self.checks],
        }

    @property
    def text(self):
        lines = [f"[{'ok' if c.ok else 'FAILED'}] {c.name}: {c.message}" for c in self.checks]
        lines += [f"    {d}" for c in self.checks if not c.ok for d in c.details[:20]]
        return "\n".join(lines) + "\n"


def normalize_counts(counts):
    """Accept {table: n}, {table: {"total": n}} or a count matrix {"tables": {...}}."""
    if counts and isinstance(counts.get("tables"), dict):
        counts = counts["tables"]
    out = {}
    for table, value in (counts or {}).items():
        if isinstance(value, dict):
            if "total" not in value:
                continue  # an absent table in a count matrix
            value = value["total"]
        out[table] = int(value)
    return out


def verify_migration(
    db_path,
    before_counts=None,
    default_vault_tables=None,
    run=None,
    before_source="the pre-migration counts",
    file_checked=False,
):
    """Check the file against what the applied migrations promise; never writes.

    `run` (a RunResult) adds the exact in-transaction row-count check; `before_counts` (e.g. a
    backup manifest's, named by `before_source`) the no-row-lost check. `file_checked`: the
    run's own pre-flight passed quick_check on the whole file as the migration found it, so
    only what the run wrote is read again (every index it built, whole) instead of a second
    whole-file quick_check.
    """
    started = time.monotonic()
    result = Verification(str(db_path))
    with open_for_reading(db_path) as conn:
        applied = applied_rows(conn)
        tables = inspect.existing_tables(conn)
        result.checks.append(check_recorded(applied))
        if run is not None:
            result.checks.append(check_rows_in_transaction(run))
        if before_counts is not None:
            result.checks.append(
                check_row_counts(conn, normalize_counts(before_counts), before_source)
            )
        result.checks.append(check_vault_columns(conn, tables, applied))
        result.checks.append(check_indexes(conn, tables, applied))
        if default_vault_tables:
            result.checks.append(check_default_vault(conn, tables, default_vault_tables))
        result.checks.append(check_query_plans(conn, tables))
        if file_checked and run is not None:
            result.checks.append(check_built_indexes(conn, run.indexes_built))
        else:
            quick = inspect.integrity(conn)
            result.checks.append(
                Check(
                    "quick_check",
                    quick["ok"],
                    "PRAGMA quick_check: ok"
                    if quick["ok"]
                    else str(DamagedDatabase.from_check(db_path, quick["messages"])),
                    quick["messages"],
                )
            )
    result.seconds = round(time.monotonic() - started, 3)
    return result


def check_recorded(applied):
    known = [m for m in ("001_add_vault_id", "002_add_vercel_sandbox_tables") if m in applied]
    bad = [
        f"{i}: applied_at {row['applied_at']!r} is not ISO-8601"
        for i, row in applied.items()
        if not ISO_8601.match(str(row["applied_at"] or ""))
    ]
    if not known:
        return Check("schema_migrations", False, "no migration is recorded as applied")
    message = f"recorded as applied: {', '.join(known)}"
    return Check("schema_migrations", not bad, message if not bad else "bad applied_at", bad)


def check_row_counts(conn, before, source="the pre-migration counts"):
    """No table has fewer rows than `before`; rows added since are reported as new, not errors.

    Metamorph writes while we verify: more rows than a backup's manifest is normal.
    """
    now = count_rows(conn)
    lost = [
        f"{t}: {n} rows before, {now.get(t, 'table missing')} now"
        for t, n in sorted(before.items())
        if now.get(t, -1) < n
    ]
    new = {t: now[t] - n for t, n in sorted(before.items()) if now.get(t, -1) > n}
    if lost:
        return Check(
            "row_counts",
            False,
            f"{len(lost)} tables have fewer rows than "
            f"{source}: if nobody deleted them on purpose (Metamorph itself only "
            "deletes decayed memories), restore the backup and investigate before "
            "restarting",
            lost,
        )
    kept = (
        f"no row lost: all {len(before)} tables have at least their rows in {source} "
        f"({sum(before.values())} rows)"
    )
    if not new:
        return Check("row_counts", True, kept)
    return Check(
        "row_counts",
        True,
        f"{kept}; {sum(new.values())} new rows written since (by the running server)",
        [f"{t}: {n} new rows" for t, n in new.items()],
    )


def check_rows_in_transaction(run):
    """Row counts each migration took inside its own transaction, before and after its DDL."""
    problems, tables = [], 0
    for m in run.migrations:
        if not m.rows_before:
            continue  # already applied: nothing ran
        # schema_migrations gains (or loses) the migration's own row.
        expected = {
            t: n
            for t, n in m.rows_before.items()
            if t not in m.rows_lost and t != "schema_migrations"
        }
        after = {t: n for t, n in m.rows_after.items() if t in expected}
        tables += len(expected)
        problems += [
            f"{m.migration_id}: {t}: {n} rows before, {after.get(t, 'table missing')} after"
            for t, n in sorted(expected.items())
            if after.get(t) != n
        ]
    if problems:
        return Check(
            "rows_in_transaction",
            False,
            "a migration changed row counts inside its "
            "own transaction: report this as a bug; the backup holds the rows",
            problems,
        )
    return Check(
        "rows_in_transaction",
        True,
        "inside each migration's transaction the row "
        f"counts after its last statement equal those before its first ({tables} "
        "table counts compared; concurrent writes cannot fall between them)",
    )


def _expected_column_tables(tables, applied):
    out = {}
    if "001_add_vault_id" in applied:
        out.update({t: VAULT_COLUMN_001 for t in schema.USER_SCOPED_TABLES if t in tables})
    if "002_add_vercel_sandbox_tables" in applied:
        out.update({t: VAULT_COLUMN_002 for t in schema.SANDBOX_TABLES})
    return out


def vault_column(conn, table):
    """(type, notnull, default, pk) of `table`.vault_id from PRAGMA table_info, or None."""
    for row in conn.execute(f"PRAGMA table_info({schema.quote(table)})"):
        if row[1] == schema.VAULT_COLUMN:
            return (row[2], row[3], row[4], row[5])
    return None


def check_vault_columns(conn, tables, applied):
    expected = _expected_column_tables(tables, applied)
    problems = []
    for table, want in expected.items():
        if table not in tables:
            problems.append(f"{table}: table missing")
            continue
        got = vault_column(conn, table)
        if got != want:
            problems.append(f"{table}: vault_id is {got or 'missing'}, expected {want}")
    if problems:
        return Check(
            "vault_columns",
            False,
            f"{len(problems)} tables lack Metamorph's vault_id "
            "column: run the migration again (it adds missing columns)",
            problems,
        )
    return Check(
        "vault_columns",
        True,
        f"vault_id is right on all {len(expected)} tables "
        "(TEXT NOT NULL, default 'default-vault' on migrated tables)",
    )


def _expected_indexes(tables, columns, applied):
    wanted = list(INDEXES_001) if "001_add_vault_id" in applied else []
    if "002_add_vercel_sandbox_tables" in applied:
        wanted += list(schema.MIGRATION_002_INDEXES)
    # Metamorph skips an index whose table or key column is absent: so do we.
    return [ix for ix in wanted if ix.table in tables and set(ix.columns) <= columns[ix.table]]


def check_indexes(conn, tables, applied):
    columns = {t: set(c) for t, c in tables.items()}
    expected = _expected_indexes(tables, columns, applied)
    actual = indexes.actual_indexes(conn, [t for t in tables if not t.startswith("sqlite_")])
    missing, info = [], []
    for ix in expected:
        found = actual.get(ix.name)
        if not found or found["table"] != ix.table:
            missing.append(f"{ix.name} on {ix.table}({', '.join(ix.columns)})")
        elif tuple(c for c, _ in found["key"]) != ix.columns or found["unique"] != ix.unique:
            missing.append(f"{ix.name}: columns {found['key']} instead of {ix.columns}")
        elif found["key"] != ix.key():
            info.append(
                f"{ix.name}: same columns, different sort order (a fresh install's "
                "variant; information only)"
            )
    if missing:
        return Check(
            "indexes",
            False,
            f"{len(missing)} expected indexes are missing or "
            "wrong: run the migration again (it creates missing indexes)",
            missing,
        )
    return Check(
        "indexes", True, f"all {len(expected)} expected indexes exist with their columns", info
    )


def check_default_vault(conn, tables, legacy_tables):
    problems = []
    for t in legacy_tables:
        if t in tables and schema.VAULT_COLUMN in tables[t]:
            n = conn.execute(
                f"SELECT COUNT(*) FROM {schema.quote(t)} WHERE "
                f"{schema.quote(schema.VAULT_COLUMN)} != ?",
                (schema.DEFAULT_VAULT,),
            ).fetchone()[0]
            if n:
                problems.append(f"{t}: {n} rows outside default-vault")
    if problems:
        return Check("default_vault", False, "legacy rows are not all in default-vault", problems)
    return Check(
        "default_vault",
        True,
        f"every row of the {len(legacy_tables)} migrated legacy tables is in default-vault",
    )


def check_built_indexes(conn, built):
    """Every index the run built, read whole in one snapshot: each holds one entry per row of
    its table (its entry count equals the table's row count through its other indexes), and
    reading it met no damaged page. What the run wrote is exactly these b-trees and the schema
    (which the checks above read); the rest of the file passed quick_check before the commit."""
    by_table: dict[str, list[str]] = {}
    for table, index in built:
        by_table.setdefault(table, []).append(index)
    problems = []
    conn.execute("BEGIN")  # one snapshot: Metamorph's inserts meanwhile cannot skew a count
    try:
        for table, names in by_table.items():
            counts = {"the table": _count(conn, f"SELECT COUNT(*) FROM {schema.quote(table)}")}
            for name in names:
                counts[name] = _count(
                    conn,
                    f"SELECT COUNT(*) FROM {schema.quote(table)} INDEXED BY {schema.quote(name)}",
                )
            if len(set(counts.values())) > 1:
                problems.append(f"{table}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    finally:
        conn.execute("COMMIT")
    if problems:
        return Check(
            "built_indexes",
            False,
            f"{len(problems)} tables have an index that does not hold every row: restore the "
            "backup and migrate again",
            problems,
        )
    return Check(
        "built_indexes",
        True,
        f"all {len(built)} indexes the migration built were read whole: each holds every row "
        "of its table (the rest of the file passed quick_check before the commit)",
    )


def _count(conn, sql):
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return f"unreadable ({exc})"


def check_query_plans(conn, tables):
    plans = indexes.query_plans(conn, inspect.table_states(tables), tables)
    scans = [f"{p['table']}: {p['plan']}" for p in plans if p["full_scan"] or not p["index_used"]]
    if scans:
        return Check(
            "query_plans",
            False,
            f"{len(scans)} vault-scoped queries scan their whole table instead of using an index",
            scans,
        )
    return Check(
        "query_plans", True, f"all {len(plans)} canonical vault-scoped queries use an index"
    )
