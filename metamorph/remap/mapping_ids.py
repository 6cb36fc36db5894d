"""Where each id of a mapping file was found in the source vault, and why an unknown one is.

A mapping file may name any conversation id or session id that appears anywhere in the
source vault (graph.py: one namespace of root ids). While the plan reads the rows, every
place an id appears is noted (sessions.id, evolution_snapshots.conversation_id,
semantic_memory.metadata.conversationId…), so the preview can say it per id; ids found
nowhere refuse the file, each with its line and, when it is in another vault, which.
"""

from collections import Counter
from typing import Any

from .. import schema
from . import graph, ids

SAMPLE = 50
MAX_UNKNOWN_SHOWN = 20


class FoundIn:
    """{mapping id: set of labels} filled as rows are read; empty when there is no mapping."""

    def __init__(self, mapping):
        self.wanted = set(mapping)
        self.mapping = mapping
        self.by_label = {}  # label -> ids of the mapping seen there
        self._where = None

    def _note(self, label, values):
        found = values & self.wanted  # set operations in C: 1 M rows in ~0.1 s
        if found:
            self.by_label.setdefault(label, set()).update(found)
            self._where = None

    @property
    def where(self):
        """{mapping id: set of labels}, built once from what was noted."""
        if self._where is None:
            self._where = {}
            for label, found in self.by_label.items():
                for value in found:
                    self._where.setdefault(value, set()).add(label)
        return self._where

    def note_hub(self, table, rows, with_link):
        if not self.wanted:
            return
        self._note(graph.HUB_LABELS[table], {r[1] for r in rows})
        if with_link:
            self._note(graph.HUB_UNIONS[table].label, {r[2] for r in rows})

    def note_leaf(self, label, rows):
        if self.wanted:
            self._note(label, {r[2] for r in rows})

    def unknown(self):
        seen = set().union(*self.by_label.values()) if self.by_label else set()
        return [i for i in self.mapping if i not in seen]

    def summary(self, lines):
        """For the preview: how many ids were found in which tables, and a sample per id."""
        text = {i: " + ".join(sorted(labels)) for i, labels in self.where.items()}
        combos = Counter(text.values())
        names = [c for c, _ in combos.most_common()]
        index = {c: n for n, c in enumerate(names)}
        order = sorted(self.where, key=lambda i: (lines.get(i, 0), i))
        return {
            "ids": len(self.where),
            "by_tables": dict(combos.most_common()),
            "sample": [
                {
                    "id": i,
                    "line": lines.get(i),
                    "vault": self.mapping[i],
                    "found_in": sorted(self.where[i]),
                }
                for i in order[:SAMPLE]
            ],
            # Every id, compactly: its index into `combos` (the export lists them all).
            "combos": names,
            "per_id": {i: index[text[i]] for i in order},
        }


def found_rows(rule, summary):
    """(line, id, vault, found in) for every id of the mapping, in file order."""
    combos = summary.get("combos", [])
    for root, n in summary.get("per_id", {}).items():
        yield rule.lines.get(root), root, rule.mapping.get(root), combos[n]


def unknown_problems(conn, tables, rule, unknown):
    """(line, text) per unknown id (the first few): in another vault, or nowhere."""
    shown = sorted(unknown, key=lambda r: rule.lines.get(r, 0))[:MAX_UNKNOWN_SHOWN]
    elsewhere = _other_vaults(conn, tables, rule.source, shown)
    problems = []
    for root in shown:
        where = elsewhere.get(root)
        if where:
            vault, label = where
            why = f"it is in vault {ids.shown(vault)} ({label}), not in the source vault"
        else:
            why = (
                "no such id in the database: not a conversations, sessions or "
                "session_states id, nor a link of any snapshot, arc, memory, message…"
            )
        problems.append(
            (
                rule.lines.get(root, 0),
                f"{rule.key} {ids.shown(root)} is not in the source vault "
                f"{ids.shown(rule.source)} ({why})",
            )
        )
    return problems


def _other_vaults(conn, tables, source, wanted):
    # Only on the error path, for at most MAX_UNKNOWN_SHOWN ids: one IN query per place a
    # root id can appear (indexed where Metamorph has an index).
    found: dict[str, Any] = {}
    marks = ", ".join("?" * len(wanted))
    for table, _kind, expr, label, _hub in graph.root_sources(tables):
        missing = [w for w in wanted if w not in found]
        if not missing:
            break
        for value, vault in conn.execute(
            f"SELECT {expr}, vault_id FROM {schema.quote(table)} WHERE {expr} IN "
            f"({marks}) AND vault_id IS NOT ?",
            list(wanted) + [source],
        ):
            found.setdefault(value, (vault, label))
    return found
