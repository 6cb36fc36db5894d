"""Index health: expected, missing, differing, extra, redundant, and used by the planner.

Keyed on the *set* of expected index names (Metamorph's fresh installs and migrated files differ
in definitions but share the names): a definition that differs
(DESC, uniqueness, extra key columns) is information, not a missing index.
"""

import sqlite3

from . import schema
from .shapes import IndexHealth, TableState

FIX_001 = "python manage.py runmigration --migration=001_add_vault_id"
FIX_002 = "python manage.py runmigration --migration=002_add_vercel_sandbox_tables"


def actual_indexes(conn, tables):
    """{name: {table, key: ((column, desc), ...), unique, origin}} for indexes on `tables`."""
    out = {}
    for t in tables:
        for row in conn.execute(f"PRAGMA index_list({schema.quote(t)})"):
            name, unique, origin = row[1], bool(row[2]), row[3]
            key = tuple(
                (r[2], bool(r[3]))
                for r in conn.execute(f"PRAGMA index_xinfo({schema.quote(name)})")
                if r[5]
            )
            out[name] = {"table": t, "key": key, "unique": unique, "origin": origin}
    return out


def _expectation(ix, table_state):
    """Why an index is (not) expected in this file, and the command that creates it."""
    if table_state == "absent":
        return "not-applicable", ""
    if ix in schema.MIGRATION_001_INDEXES:
        if table_state == "not-migrated":
            return "pending", FIX_001
        return "expected", FIX_001
    if ix in schema.MIGRATION_002_INDEXES:
        return "expected", FIX_002
    return "expected", "restart Metamorph once (its store creates this index at start-up)"


def _columns_text(key):
    return ", ".join(f"{c} DESC" if d else c for c, d in key)


def expected_index_status(conn, states, actual):
    rows = []
    for ix in schema.EXPECTED_INDEXES:
        expectation, fix = _expectation(ix, states.get(ix.table, "absent"))
        found = actual.get(ix.name)
        row = {
            "name": ix.name,
            "table": ix.table,
            "expected_columns": _columns_text(ix.key()),
            "actual_columns": _columns_text(found["key"]) if found else "",
            "note": "",
            "fix": "",
        }
        if found:
            row["status"] = "present"
            diffs = []
            if found["table"] != ix.table:
                diffs.append(f"on table {found['table']}")
            if found["key"] != ix.key():
                diffs.append("columns or order differ")
            if found["unique"] != ix.unique:
                diffs.append("unique" if found["unique"] else "not unique")
            if diffs:
                row["status"] = "differs"
                row["note"] = "; ".join(diffs) + " (information: Metamorph's other code paths "
                "create this variant)"
        elif expectation == "expected":
            row.update(status="missing", fix=fix)
        else:
            row.update(
                status=expectation,
                fix=fix,
                note="table absent"
                if expectation == "not-applicable"
                else "table has no vault_id yet",
            )
        rows.append(row)
    return rows


def extra_indexes(actual):
    """Indexes not in the expected set, with where they come from when we know."""
    expected = {ix.name for ix in schema.EXPECTED_INDEXES}
    rows = []
    for name, info in sorted(actual.items()):
        if name in expected:
            continue
        if info["origin"] in ("u", "pk"):
            continue  # SQLite's own index behind a UNIQUE / PRIMARY KEY constraint
        if name in schema.KNOWN_EXTRA_INDEXES:
            origin = "Metamorph multitenancy store (auto-upgrade or fresh install)"
        elif name == schema.FRESH_SESSION_STATES_ACTIVITY.name:
            origin = "Metamorph multitenancy session adapter"
        else:
            origin = "not created by Metamorph: someone added it by hand"
        rows.append(
            {
                "name": name,
                "table": info["table"],
                "columns": _columns_text(info["key"]),
                "unique": info["unique"],
                "origin": origin,
            }
        )
    return rows


def redundant_indexes(actual):
    """Pairs where one index's key is a left prefix of (or equal to) another's on its table."""
    rows = []
    items = sorted(actual.items())
    for name, a in items:
        if a["origin"] == "pk":
            continue
        for other, b in items:
            if other == name or a["table"] != b["table"]:
                continue
            if a["key"] == b["key"]:
                if name > other:
                    continue  # report an identical pair once
                reason = "same columns"
            elif len(a["key"]) < len(b["key"]) and b["key"][: len(a["key"])] == a["key"]:
                reason = "left prefix"
            else:
                continue
            if a["unique"] and reason == "left prefix":
                continue  # it enforces a constraint the wider index does not
            rows.append(
                {
                    "name": name,
                    "covered_by": other,
                    "table": a["table"],
                    "reason": reason,
                    "columns": _columns_text(a["key"]),
                }
            )
    return rows


def _plan_row(table, sql, plan, used=None, scan=False):
    fix = (FIX_002 if table in schema.SANDBOX_TABLES else FIX_001) if scan else ""
    return {
        "table": table,
        "sql": sql,
        "plan": plan,
        "index_used": used,
        "full_scan": scan,
        "fix": fix,
    }


def query_plans(conn, states, tables):
    """EXPLAIN QUERY PLAN of each migrated table's canonical vault-scoped query."""
    rows = []
    for t, state in states.items():
        if state != "migrated":
            continue
        sql, params, needed = schema.canonical_query(t)
        # SQLite reads an unknown "column" as a string literal: check the names first.
        lacking = [c for c in needed if c not in tables[t]]
        if lacking:
            rows.append(_plan_row(t, sql, f"cannot plan: no such column {', '.join(lacking)}"))
            continue
        detail = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        used = None
        for d in detail:
            if " INDEX " in d:
                used = d.split(" INDEX ", 1)[1].split(" ", 1)[0]
        rows.append(
            _plan_row(t, sql, " / ".join(detail), used, any(d.startswith("SCAN") for d in detail))
        )
    return rows


def index_health(
    conn: sqlite3.Connection, states: dict[str, TableState], tables: dict[str, list[str]]
) -> IndexHealth:
    """Everything the index-health page and `vaultreport` show, sizes aside."""
    actual = actual_indexes(conn, [t for t in tables if not t.startswith("sqlite_")])
    plans = query_plans(conn, states, tables)
    used = {p["index_used"] for p in plans if p["index_used"]}
    expected = expected_index_status(conn, states, actual)
    for row in expected:
        row["used_by_planner"] = row["name"] in used
    counts: dict[str, int] = {}
    for row in expected:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return {
        "expected": expected,
        "extra": extra_indexes(actual),
        "redundant": redundant_indexes(actual),
        "plans": plans,
        "status_counts": counts,
    }
