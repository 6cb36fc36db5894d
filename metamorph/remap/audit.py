"""Isolation audit (read-only): rows whose vault differs from the row they link to, rows
with no vault, vault ids outside the id rules.

Fast on big files: each link is checked on its (vault_id, link) groups — one group per
conversation or session, read from the covering vault index where Metamorph has one —
joined to the parent's primary key; samples are bounded. With a journal path, plans that
stopped half-way are reported too: they explain the mismatches a half-done remap leaves.
"""
import sqlite3
import time

from .. import schema
from ..connection import open_readonly, time_limit
from ..errors import QueryTimedOut
from . import graph, ids
from .rows import vault_tables
from .status import incomplete_plans

SAMPLE = 10
PARENT_TABLE = {"conversation": "conversations", "session": "sessions",
                "vercel_connection": "vercel_connections"}


def link_checks():
    """(child table, SQL of the parent id, label, parent table) for every link audited."""
    out = [(f.table, f.expr, f.label, PARENT_TABLE[f.kind]) for f in graph.FOLLOWS]
    out.append(("session_states", schema.quote("id"), "session_states.id (a session id)",
                "sessions"))
    return out


def isolation_audit(db_path, journal_path=None, seconds=None):
    """Findings with counts and bounded samples; `clean` when there are none.

    `seconds` bounds the whole audit (checks not finished are listed in `unfinished`);
    the remap journal (default path beside the database) explains a half-done remap.
    """
    started = time.monotonic()
    with open_readonly(db_path) as conn:
        tables = vault_tables(conn, db_path)
        budget = _Budget(conn, seconds, started)
        findings, dangling, checked = [], {}, []
        for child, expr, label, parent in link_checks():
            if child in tables and parent in tables:
                budget.run(label, lambda: _check_link(conn, child, expr, label, parent,
                                                      findings, dangling))
                checked.append(label)
        for table in tables:
            budget.run(f"{table} vault ids", lambda: _check_vault_ids(conn, table, findings))
    result = {"clean": not findings and not budget.unfinished, "complete": not budget.unfinished,
              "findings": findings, "dangling": dangling, "checked": checked,
              "unfinished": budget.unfinished,
              "seconds": round(time.monotonic() - started, 3)}
    _explain(result, db_path, journal_path)
    return result


class _Budget:
    """Runs each check inside what is left of `seconds` (no limit when None)."""

    def __init__(self, conn, seconds, started):
        self.conn, self.seconds, self.started, self.unfinished = conn, seconds, started, []

    def run(self, label, check):
        if self.seconds is None:
            return check()
        left = self.seconds - (time.monotonic() - self.started)
        try:
            if left <= 0:
                raise QueryTimedOut(label, self.seconds)
            with time_limit(self.conn, left, label):
                return check()
        except QueryTimedOut:
            self.unfinished.append(label)


def _check_link(conn, child, expr, label, parent, findings, dangling):
    c, p = schema.quote(child), schema.quote(parent)
    groups = (f"SELECT v, k, COUNT(*) AS n FROM (SELECT vault_id AS v, {expr} AS k FROM {c}) "
              "WHERE k IS NOT NULL AND k != '' GROUP BY v, k")
    lost, wrong, n_groups = conn.execute(
        f"SELECT coalesce(sum(CASE WHEN p.id IS NULL THEN g.n END), 0), "
        f"coalesce(sum(CASE WHEN p.id IS NOT NULL AND p.vault_id IS NOT g.v THEN g.n END), 0), "
        f"count(CASE WHEN p.id IS NOT NULL AND p.vault_id IS NOT g.v THEN 1 END) "
        f"FROM ({groups}) AS g LEFT JOIN {p} AS p ON p.id = g.k").fetchone()
    if lost:
        dangling[label] = lost
    if not wrong:
        return
    sample = [{"id": r[0], "vault": r[1], "parent_id": r[2], "parent_vault": r[3]}
              for r in conn.execute(
                  f"SELECT t.id, t.vault_id, p.id, p.vault_id FROM {c} AS t JOIN {p} AS p "
                  f"ON p.id = (SELECT {expr} FROM {c} AS x WHERE x.rowid = t.rowid) "
                  f"WHERE p.vault_id IS NOT t.vault_id LIMIT ?", (SAMPLE,))]
    e = sample[0] if sample else None
    example = (f" (e.g. {child} {ids.shown(e['id'])} in {ids.shown(e['vault'])}, {parent} "
               f"{ids.shown(e['parent_id'])} in {ids.shown(e['parent_vault'])})") if e else ""
    findings.append({"kind": "link_mismatch", "table": child, "link": label, "parent": parent,
                     "rows": wrong, "groups": n_groups, "sample": sample,
                     "message": f"{wrong:,} {child} rows are in another vault than the "
                                f"{parent} row their link {label} names{example}."})


def _check_vault_ids(conn, table, findings):
    q = schema.quote(table)
    blank, odd = 0, {}
    for vault, n in conn.execute(f"SELECT vault_id, COUNT(*) FROM {q} GROUP BY vault_id"):
        if vault is None or vault == "":
            blank += n
        elif not ids.is_valid_vault_id(vault):
            odd[vault] = n
    if blank:
        sample = [r[0] for r in conn.execute(
            f"SELECT id FROM {q} WHERE vault_id IS NULL OR vault_id = '' LIMIT ?", (SAMPLE,))]
        findings.append({"kind": "blank_vault", "table": table, "rows": blank,
                         "sample": sample, "message": f"{blank:,} {table} rows have no vault "
                                                      "(NULL or empty vault_id)."})
    for vault, n in sorted(odd.items(), key=lambda kv: -kv[1])[:50]:
        sample = [r[0] for r in conn.execute(f"SELECT id FROM {q} WHERE vault_id = ? LIMIT ?",
                                             (vault, SAMPLE))]
        findings.append({"kind": "invalid_vault_id", "table": table, "vault": ids.shown(vault),
                         "rows": n, "sample": sample,
                         "message": f"{n:,} {table} rows are in vault {ids.shown(vault)}, "
                                    f"which breaks the id rules: {ids.problem(vault)}."})


def _explain(result, db_path, journal_path):
    """Plans that stopped half-way (default journal path when none is given)."""
    try:
        plans = incomplete_plans(db_path, journal_path)
    except (sqlite3.Error, OSError) as exc:
        result["incomplete_plans"] = []
        result["explanation"] = f"The remap journal could not be read ({exc})."
        return
    result["incomplete_plans"] = plans
    if plans:
        result["explanation"] = " ".join(p["message"] for p in plans)
