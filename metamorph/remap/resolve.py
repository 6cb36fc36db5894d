"""Deciding, row by row, where a rule sends the source vault's rows, and fingerprinting it.

The same function computes the preview (read-only connection) and, at execution, the
exact work to do: if the fingerprint it computes then differs from the preview's, the
data changed and the plan is refused. Rows a plan already moved (read back from its
journal) count as still in the source vault, so an interrupted plan resumes.
"""

import hashlib
import json
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .. import schema
from ..errors import SourceVaultMissing
from . import split
from .rows import read_rows, vault_tables

MAX_TARGETS_SHOWN = 2000
MAX_SAMPLES = 10


@dataclass
class TableWork:
    """Rows of one table still to move (rowid order) and their target's index."""

    rowids: array = field(default_factory=lambda: array("q"))
    targets: array = field(default_factory=lambda: array("l"))
    done: int = 0


@dataclass
class Resolution:
    source: str
    vaults: list
    work: dict
    fingerprint: str
    counts: dict  # table -> Counter of outcome codes (moves by target index)
    done: dict
    samples: dict  # reason name -> [{"table", "id"}]
    unique_clashes: list
    decider: object = None
    copies: list = field(default_factory=list)  # rows copied, not moved (identity)

    @property
    def remaining(self):
        return sum(len(w.rowids) for w in self.work.values())


class _MoveDecider:
    """A whole-vault move: every row goes to the one target (index 0)."""

    def __init__(self, target):
        self.vaults = [target]

    def exprs(self, table):
        return []

    def codes(self, table, rows):
        return [0] * len(rows)

    def finish(self, res):
        return []


def resolve(conn, rule, path="the database", done=None, observe=None):
    """The Resolution of `rule` on the data as it is now (see module docstring).

    Interface kept stable for execution (issue 8): same arguments, same Resolution fields;
    issue 9 added `copies` (rows to copy into target vaults, e.g. the identity row) and
    may raise MappingFileInvalid (an id found nowhere) or InvalidRemapRule.
    `observe(table, rows, codes)`, if given, sees every row read and its outcome code
    (execution compares them with the preview's, row by row)."""
    tables = vault_tables(conn, path)
    check_source(conn, tables, rule.source, done)
    if rule.kind == "move":
        decider: _MoveDecider | split.SplitDecider = _MoveDecider(rule.target)
    else:
        decider = split.SplitDecider(conn, tables, rule, done, [])
    digest = hashlib.sha256()
    res = Resolution(rule.source, decider.vaults, {}, "", {}, {}, {}, [], decider)
    for table in tables:
        _resolve_table(conn, res, table, decider, done, digest, observe)
    res.copies = decider.finish(res)
    res.unique_clashes = _hold_back_unique_clashes(conn, res)
    digest.update(json.dumps([res.vaults, res.unique_clashes, res.copies], default=repr).encode())
    res.fingerprint = digest.hexdigest()
    return res


def _resolve_table(conn, res, table, decider, done, digest, observe=None):
    work = TableWork()
    counts: Counter[str] = Counter()
    for rows in read_rows(conn, table, res.source, decider.exprs(table), done):
        codes = decider.codes(table, rows)
        if observe is not None:
            observe(table, rows, codes)
        counts.update(codes)
        rowids = [r[0] for r in rows]
        # The fingerprint covers each row's rowid, id and outcome, not whether this plan
        # already moved it (a resumed run hashes the same). Bytes, not repr: 1 M rows/s.
        digest.update(array("q", rowids).tobytes())
        digest.update("\0".join([str(r[1]) for r in rows]).encode("utf-8", "surrogatepass"))
        digest.update(array("l", codes).tobytes())
        lowest = min(codes)
        if done is None and lowest >= 0:
            work.rowids.extend(rowids)
            work.targets.extend(codes)
        else:
            todo = [(r[0], c) for r, c in zip(rows, codes) if c >= 0 and not r[-1]]
            work.rowids.extend([t[0] for t in todo])
            work.targets.extend([t[1] for t in todo])
            work.done += sum(1 for r, c in zip(rows, codes) if c >= 0 and r[-1])
        if lowest < 0:
            _sample(res, table, rows, codes)
    res.work[table], res.counts[table], res.done[table] = work, counts, work.done


def _sample(res, table, rows, codes):
    negative = [c for c in set(codes) if c < 0]
    if all(len(res.samples.get(split.REASONS[c][0], ())) >= MAX_SAMPLES for c in negative):
        return  # every reason of this window already has its samples
    for r, c in zip(rows, codes):
        if c < 0:
            bucket = res.samples.setdefault(split.REASONS[c][0], [])
            if len(bucket) < MAX_SAMPLES:
                bucket.append({"table": table, "id": r[1]})


def check_source(conn, tables, source, done=None):
    """SourceVaultMissing unless some row is in `source` (or this plan already moved some)."""
    for table in tables:
        if conn.execute(
            f"SELECT 1 FROM {schema.quote(table)} WHERE vault_id = ? LIMIT 1", (source,)
        ).fetchone():
            return
    if (
        done is not None
        and conn.execute(
            f"SELECT 1 FROM {done.journal.rows} WHERE j_plan = ? LIMIT 1", (done.plan_id,)
        ).fetchone()
    ):
        return
    raise SourceVaultMissing(source, sorted(existing_vaults(conn, tables), key=str))


def existing_vaults(conn, tables):
    """Every vault id present in any vault table (each table's vault index answers)."""
    found: set[Any] = set()
    for table in tables:
        found.update(
            r[0] for r in conn.execute(f"SELECT DISTINCT vault_id FROM {schema.quote(table)}")
        )
    return found


def unique_vault_keys(conn, table):
    """Column lists of UNIQUE indexes on `table` that include vault_id."""
    out = []
    for row in conn.execute(f"PRAGMA index_list({schema.quote(table)})"):
        if row[2]:
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info({schema.quote(row[1])})")]
            if schema.VAULT_COLUMN in cols and len(cols) > 1:
                out.append(cols)
    return out


def _hold_back_unique_clashes(conn, res):
    """Moves that would break a UNIQUE(vault_id, …) key in their target stay behind."""
    clashes: list[Any] = []
    for table, work in res.work.items():
        keys = unique_vault_keys(conn, table) if work.rowids else []
        for cols in keys:
            others = [c for c in cols if c != schema.VAULT_COLUMN]
            moving = dict(zip(work.rowids, work.targets))
            sql = (
                f"SELECT rowid, id, vault_id, {', '.join(schema.quote(c) for c in others)} "
                f"FROM {schema.quote(table)}"
            )
            staying, movers = set(), []
            for r in conn.execute(sql):
                if r[0] in moving and r[2] == res.source:
                    movers.append((r[0], r[1], (res.vaults[moving[r[0]]],) + tuple(r[3:])))
                else:
                    staying.add((r[2],) + tuple(r[3:]))
            seen = Counter(k for _, _, k in movers if None not in k)
            bad = [
                (rid, rid_id)
                for rid, rid_id, k in movers
                if None not in k and (k in staying or seen[k] > 1)
            ]
            if bad:
                clashes.extend(
                    {"table": table, "rowid": rid, "id": i, "key": others} for rid, i in bad
                )
                _drop(res, table, {rid for rid, _ in bad})
    return clashes


def _drop(res, table, rowids):
    work = res.work[table]
    keep = [(r, t) for r, t in zip(work.rowids, work.targets) if r not in rowids]
    res.counts[table].update({split.UNIQUE_CLASH: len(work.rowids) - len(keep)})
    for r, t in zip(work.rowids, work.targets):
        if r in rowids:
            res.counts[table][t] -= 1
    work.rowids = array("q", (r for r, _ in keep))
    work.targets = array("l", (t for _, t in keep))
