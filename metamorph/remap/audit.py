"""Isolation audit (read-only): rows whose vault differs from the conversation or session
they link to, rows with no vault, vault ids outside the id rules.

It checks exactly the links a remap follows (graph.py, one definition): every row that
names a root id — a conversation id or a session id, whether or not a conversations or
sessions row holds it — belongs with that root. Each root's *home* vault is the vault of
its conversations row, else of its sessions row, else of its session_states row, else the
vault most of its rows are in (the real shape, where snapshots, arcs and memories carry an
id no row holds). A row elsewhere is a finding, in both shapes.

Fast on big files: linked tables are read as (link, vault_id) groups — one per
conversation, from the covering vault index where Metamorph has one — and samples are
bounded. With a journal path, plans that stopped half-way are reported too: they explain
the mismatches a half-done remap leaves.
"""

import sqlite3
import time
from collections import Counter
from functools import partial
from typing import Any

from .. import schema
from ..connection import open_readonly, time_limit
from ..errors import QueryTimedOut
from . import graph, ids
from .rows import vault_tables
from .status import incomplete_plans

SAMPLE = 10
# Which hub row gives a root its home vault, first found wins.
HOME_ORDER = ("conversations", "sessions", "session_states", "vercel_connections")
NO_ROW = "an id no conversations or sessions row holds"


def link_checks(tables):
    """The labels of every link audited (the same list the remap follows)."""
    return [label for *_, label, _hub in graph.root_sources(tables)]


def isolation_audit(db_path, journal_path=None, seconds=None):
    """Findings with counts and bounded samples; `clean` when there are none.

    `seconds` bounds the whole audit (checks not finished are listed in `unfinished`);
    the remap journal (default path beside the database) explains a half-done remap.
    """
    started = time.monotonic()
    with open_readonly(db_path) as conn:
        tables = vault_tables(conn, db_path)
        budget = _Budget(conn, seconds, started)
        findings: list[dict[str, Any]] = []
        roots = _Roots(conn, tables)
        budget.run("conversations and sessions", roots.read_hubs)
        for table, kind, expr, label, is_hub in graph.root_sources(tables):
            if not is_hub:
                budget.run(label, partial(roots.read_links, table, kind, expr, label))
        dangling = roots.decide(findings) if not budget.unfinished else {}
        for table in tables:
            budget.run(f"{table} vault ids", partial(_check_vault_ids, conn, table, findings))
    result = {
        "clean": not findings and not budget.unfinished,
        "complete": not budget.unfinished,
        "findings": findings,
        "dangling": dangling,
        "checked": link_checks(tables),
        "unfinished": budget.unfinished,
        "seconds": round(time.monotonic() - started, 3),
    }
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


class _Roots:
    """Every vault's hub rows and link groups, joined into the remap's components."""

    def __init__(self, conn, tables):
        self.conn, self.tables = conn, tables
        self.hub_rows = []  # (table, id, vault, label)
        self.groups = []  # (table, label, kind, link value, vault, rows)
        self.comp = graph.Components()

    def read_hubs(self):
        def read(table, exprs):
            cols = "".join(f", {e}" for e, _ in exprs)
            label = graph.HUB_UNIONS[table].label if exprs else graph.HUB_LABELS[table]
            rows = self.conn.execute(
                f"SELECT rowid, id{cols}, vault_id FROM {schema.quote(table)}"
            ).fetchall()
            for r in rows:
                linked = exprs and graph.is_link_value(r[2])
                self.hub_rows.append(
                    (table, r[1], r[-1], label if linked else graph.HUB_LABELS[table])
                )
            yield rows

        self.comp = graph.hub_components(self.tables, read)

    def read_links(self, table, kind, expr, label):
        q = schema.quote(table)
        for value, vault, n in self.conn.execute(
            f"SELECT k, v, COUNT(*) FROM (SELECT {expr} AS k, vault_id AS v FROM {q}) GROUP BY k, v"
        ):
            if graph.is_link_value(value):
                self.groups.append((table, label, kind, value, vault, n))

    def decide(self, findings):
        """Home vault per component; every hub row or link group elsewhere is a finding."""
        comp = self.comp
        homes: dict[Any, Any] = {}
        votes: dict[Any, Any] = {}
        rank = {t: i for i, t in enumerate(HOME_ORDER)}
        for table, row_id, vault, _ in self.hub_rows:
            if row_id is None:
                continue
            root = comp.find((graph.HUBS[table], row_id))
            best = homes.get(root)
            if best is None or rank[table] < best[0]:
                homes[root] = (rank[table], Counter(), {})
            if homes[root][0] == rank[table]:
                homes[root][1][vault] += 1
                homes[root][2].setdefault(vault, row_id)
        dangling: Counter[str] = Counter()
        for _table, label, kind, value, vault, n in self.groups:
            node = (kind, value)
            if node not in comp:
                comp.add(node)
                dangling[label] += n
            votes.setdefault(comp.find(node), Counter())[vault] += n
        home, anchor = {}, {}
        for root, (_, c, first) in homes.items():
            home[root] = _majority(c)
            anchor[root] = first[home[root]]
        for root, c in votes.items():
            home.setdefault(root, _majority(c))
        self._mismatches(home, anchor, findings)
        return dict(dangling)

    def _mismatches(self, home, anchor, findings):
        wrong: dict[str, list[Any]] = {}  # label -> [table, rows, groups, samples]
        for table, row_id, vault, label in self.hub_rows:
            if row_id is None:
                continue
            root = self.comp.find((graph.HUBS[table], row_id))
            if vault != home[root]:
                _add(
                    wrong, table, label, 1, (row_id, vault, (graph.ROOT, anchor[root]), home[root])
                )
        for table, label, kind, value, vault, n in self.groups:
            root = self.comp.find((kind, value))
            if vault != home[root]:
                _add(wrong, table, label, n, (None, vault, (kind, value), home[root]))
        for label, (table, rows, groups, samples) in wrong.items():
            findings.append(self._finding(table, label, rows, groups, samples))

    def _finding(self, table, label, rows, groups, samples):
        sample = []
        for row_id, vault, node, parent_vault in samples:
            if row_id is None:
                row_id = self._sample_id(table, label, node[1], vault)
            sample.append(
                {"id": row_id, "vault": vault, "parent_id": node[1], "parent_vault": parent_vault}
            )
        e = sample[0]
        parent = self._parent_of(e["parent_id"])
        example = (
            f" (e.g. {table} {ids.shown(e['id'])} in {ids.shown(e['vault'])}, "
            f"{parent} {ids.shown(e['parent_id'])} in {ids.shown(e['parent_vault'])})"
        )
        return {
            "kind": "link_mismatch",
            "table": table,
            "link": label,
            "parent": parent,
            "rows": rows,
            "groups": groups,
            "sample": sample,
            "message": f"{rows:,} {table} rows are in another vault than the "
            f"conversation or session their link {label} names{example}.",
        }

    def _sample_id(self, table, label, value, vault):
        expr = next(
            e for t, _, e, lab, _ in graph.root_sources(self.tables) if t == table and lab == label
        )
        row = self.conn.execute(
            f"SELECT id FROM {schema.quote(table)} WHERE {expr} = ? AND vault_id IS ? LIMIT 1",
            (value, vault),
        ).fetchone()
        return row[0] if row else None

    def _parent_of(self, root_id):
        for table, row_id, _, _ in self.hub_rows:
            if row_id == root_id:
                return f"{table} row"
        return f"conversation ({NO_ROW})"


def _majority(counter):
    return max(sorted(counter.items(), key=lambda kv: str(kv[0])), key=lambda kv: kv[1])[0]


def _add(wrong, table, label, rows, sample):
    entry = wrong.setdefault(label, [table, 0, 0, []])
    entry[1] += rows
    entry[2] += 1
    if len(entry[3]) < SAMPLE:
        entry[3].append(sample)


def _check_vault_ids(conn, table, findings):
    q = schema.quote(table)
    blank, odd = 0, {}
    for vault, n in conn.execute(f"SELECT vault_id, COUNT(*) FROM {q} GROUP BY vault_id"):
        if vault is None or vault == "":
            blank += n
        elif not ids.is_valid_vault_id(vault):
            odd[vault] = n
    if blank:
        sample = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM {q} WHERE vault_id IS NULL OR vault_id = '' LIMIT ?", (SAMPLE,)
            )
        ]
        findings.append(
            {
                "kind": "blank_vault",
                "table": table,
                "rows": blank,
                "sample": sample,
                "message": f"{blank:,} {table} rows have no vault (NULL or empty vault_id).",
            }
        )
    for vault, n in sorted(odd.items(), key=lambda kv: -kv[1])[:50]:
        sample = [
            r[0]
            for r in conn.execute(f"SELECT id FROM {q} WHERE vault_id = ? LIMIT ?", (vault, SAMPLE))
        ]
        findings.append(
            {
                "kind": "invalid_vault_id",
                "table": table,
                "vault": ids.shown(vault),
                "rows": n,
                "sample": sample,
                "message": f"{n:,} {table} rows are in vault {ids.shown(vault)}, "
                f"which breaks the id rules: {ids.problem(vault)}.",
            }
        )


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
