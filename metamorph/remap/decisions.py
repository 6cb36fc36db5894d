"""Each row's decision at the preview, stored compactly, and compared with the data now.

A plan is its rule plus the preview's numbers; executing re-applies the rule to the rows
as they are *now*. What the preview decided row by row (rowid -> target vault, or why it
stays) is kept here, delta-encoded and compressed (a whole-vault move of 1 M rows stores a
few kB), so that execution can tell three kinds of row apart:

- decided as in the preview: moved;
- not in the preview (the server added it since): moved if the rule reaches it, counted apart;
- decided otherwise than in the preview (a new conflict, a changed link, a unique-key clash
  in the target, a row that stayed and would now move): held back, listed, never moved.
"""

import base64
import zlib
from array import array
from dataclasses import dataclass, field

from . import split

MAX_HELD_SAMPLES = 50


def _pack(arr):
    return base64.b64encode(zlib.compress(arr.tobytes(), 6)).decode("ascii")


def _unpack(text, typecode):
    out = array(typecode)
    out.frombytes(zlib.decompress(base64.b64decode(text)))
    return out


def reason_name(code):
    return split.REASONS.get(code, (f"code_{code}",))[0]


class Decisions:
    """Per table, rowids in ascending order and each row's outcome (a vault name or a reason)."""

    def __init__(self, vaults=None):
        self.vaults = vaults if vaults is not None else []  # shared with the resolver
        self.rowids, self.codes, self.done = {}, {}, {}

    def observe(self, table, rows, codes):
        """resolve()'s observer: rows are (rowid, id, …, done) in rowid order."""
        if table not in self.rowids:
            self.rowids[table], self.codes[table] = array("q"), array("l")
            self.done[table] = set()
        self.rowids[table].extend(r[0] for r in rows)
        self.codes[table].extend(codes)
        self.done[table].update(r[0] for r in rows if r[-1])

    def mark(self, table, rowids, code):
        """Give `rowids` of `table` the outcome `code` (rows held back after the reading)."""
        if not rowids or table not in self.rowids:
            return
        index = {r: i for i, r in enumerate(self.rowids[table]) if r in rowids}
        for i in index.values():
            self.codes[table][i] = code

    def outcome(self, code):
        return self.vaults[code] if code >= 0 else "\0" + reason_name(code)

    def to_dict(self):
        tables = {}
        for table, rowids in self.rowids.items():
            deltas = array("q", rowids)
            for i in range(len(deltas) - 1, 0, -1):
                deltas[i] -= deltas[i - 1]
            tables[table] = {
                "rows": len(rowids),
                "rowids": _pack(deltas),
                "codes": _pack(self.codes[table]),
            }
        reasons = {str(c): reason_name(c) for t in self.codes.values() for c in set(t) if c < 0}
        return {"vaults": list(self.vaults), "reasons": reasons, "tables": tables}

    @classmethod
    def from_dict(cls, data):
        out = cls(list(data["vaults"]))
        for table, packed in data["tables"].items():
            rowids = _unpack(packed["rowids"], "q")
            for i in range(1, len(rowids)):
                rowids[i] += rowids[i - 1]
            out.rowids[table], out.codes[table] = rowids, _unpack(packed["codes"], "l")
            out.done[table] = set()
        return out


@dataclass
class TableComparison:
    previewed_moves: int = 0
    as_previewed: int = 0  # rows to move (or already moved) as the preview decided
    new_rows: int = 0  # not in the preview, reached by the rule now
    held_back: dict = field(default_factory=dict)  # why -> rows
    gone: int = 0  # previewed to move, no longer in the source vault

    def to_dict(self):
        return {
            "previewed_moves": self.previewed_moves,
            "as_previewed": self.as_previewed,
            "new_rows": self.new_rows,
            "held_back": dict(self.held_back),
            "held_back_total": sum(self.held_back.values()),
            "gone": self.gone,
        }


@dataclass
class Comparison:
    tables: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)

    @property
    def held_back_total(self):
        return sum(sum(t.held_back.values()) for t in self.tables.values())

    def hold(self, table, rowid, why, previewed, now, row_id=None):
        held = self.tables[table].held_back
        held[why] = held.get(why, 0) + 1
        if len(self.samples) < MAX_HELD_SAMPLES:
            self.samples.append(
                {
                    "table": table,
                    "rowid": rowid,
                    "id": row_id,
                    "why": why,
                    "previewed": previewed.lstrip("\0"),
                    "now": now.lstrip("\0"),
                }
            )


def compare(preview, current, res):
    """Hold back, in `res.work`, the rows whose decision differs from `preview`'s; counts.

    `preview` is None for a plan stored before decisions were kept: then every row the
    rule reaches now is moved and counted as previewed."""
    comparison = Comparison()
    for table in current.rowids:
        comparison.tables[table] = TableComparison()
        held = _compare_table(preview, current, table, comparison) if preview else set()
        if preview is None:
            comparison.tables[table].as_previewed = sum(1 for c in current.codes[table] if c >= 0)
        work = res.work.get(table)
        if held and work is not None:
            keep = [(r, t) for r, t in zip(work.rowids, work.targets) if r not in held]
            work.rowids = array("q", (r for r, _ in keep))
            work.targets = array("l", (t for _, t in keep))
    if preview:
        for table in set(preview.rowids) - set(current.rowids):
            moves = sum(1 for c in preview.codes[table] if c >= 0)
            comparison.tables[table] = TableComparison(previewed_moves=moves, gone=moves)
    return comparison


def _compare_table(preview, current, table, comparison):
    """Merge-walk the preview's and today's rows of `table` (both in rowid order)."""
    stats = comparison.tables[table]
    p_rowids = preview.rowids.get(table, array("q"))
    p_codes = preview.codes.get(table, array("l"))
    stats.previewed_moves = sum(1 for c in p_codes if c >= 0)
    held, seen_moves, j, n = set(), 0, 0, len(p_rowids)
    done = current.done.get(table, set())
    for rowid, code in zip(current.rowids[table], current.codes[table]):
        while j < n and p_rowids[j] < rowid:
            j += 1
        if j < n and p_rowids[j] == rowid:
            before = preview.outcome(p_codes[j])
            seen_moves += p_codes[j] >= 0
        else:
            before = None
        now = current.outcome(code)
        if code < 0:
            if before is not None and not before.startswith("\0") and rowid not in done:
                comparison.hold(table, rowid, reason_name(code), before, now)
            continue
        if before is None:
            stats.new_rows += 1
        elif before == now or rowid in done:
            stats.as_previewed += 1
        else:
            why = "was_staying" if before.startswith("\0") else "changed_target"
            comparison.hold(table, rowid, why, before, now)
            held.add(rowid)
    stats.gone = max(0, stats.previewed_moves - seen_moves)
    return held
