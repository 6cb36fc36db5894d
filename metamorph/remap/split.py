"""Splits (by owner value, by mapping file): votes on link components decide each row.

A root (a conversation or session id named in the mapping file, a row carrying an owner
value) casts a vote for a target vault on its component (graph.py). A component with one
target moves there whole; with two or more it is a conflict and stays; with none it is
not reached and stays. Rows nothing ties to a root (identity, operator_performance, a
memory without metadata.conversationId) follow the rule's `unattributed` choice.
"""

from collections import Counter
from typing import Any

from ..errors import InvalidRemapRule, MappingFileInvalid
from . import graph, ids, mapping_ids
from .rows import read_rows, table_columns

# Outcome codes of a row that does not move (a move is the target's index, >= 0).
(
    NOT_REACHED,
    NO_LINK,
    DANGLING,
    CONFLICT,
    INVALID_TARGET,
    TARGET_IS_SOURCE,
    UNIQUE_CLASH,
    UNATTRIBUTED,
    METADATA_NOT_JSON,
) = (-1, -2, -3, -4, -5, -6, -7, -8, -9)
REASONS = {
    NOT_REACHED: ("not_reached", "no rule reaches its conversation or session"),
    NO_LINK: (
        "no_link",
        "its link is empty, so nothing ties it to a conversation or session "
        "(it cannot be attributed)",
    ),
    DANGLING: ("dangling_link", "its link names no row of the source vault"),
    CONFLICT: ("conflict", "its component holds roots sent to different vaults"),
    INVALID_TARGET: ("invalid_target", "its owner value does not make a valid vault id"),
    TARGET_IS_SOURCE: ("target_is_source", "its rule sends it to the source vault itself"),
    UNIQUE_CLASH: ("unique_clash", "the target vault already holds a row with the same unique key"),
    UNATTRIBUTED: (
        "unattributable",
        "its table links to no conversation or session (identity, operator_performance…)",
    ),
    METADATA_NOT_JSON: (
        "metadata_not_json",
        "its metadata is not JSON, so its conversation cannot be read: it stays, whatever the rule",
    ),
}
REASON_TEXT = {name: text for name, text in REASONS.values()}


def in_words(outcome):
    """A row's outcome as an operator reads it: a vault id as it is, a reason in words."""
    return REASON_TEXT.get(outcome, outcome)


# Codes of rows an operator may send to one vault ("send"): nothing ties them to a root.
UNATTRIBUTABLE_CODES = (UNATTRIBUTED, NO_LINK)
MAX_EVIDENCE = 3


class SplitDecider:
    """Reads the roots and the rule's votes once, then decides any row of any table."""

    def __init__(self, conn, tables, rule, done, vaults):
        self.conn, self.tables, self.rule, self.done = conn, tables, rule, done
        self.vaults = vaults  # target vault ids by index (shared with the plan)
        self._vault_index = {v: i for i, v in enumerate(vaults)}
        self.votes = {}  # node -> {target or "\0value": [evidence]}
        self.found = mapping_ids.FoundIn(rule.mapping if rule.kind == "mapping" else {})
        self.comp = graph.hub_components(tables, self._read)
        if rule.kind == "mapping":
            self._mapping_votes()
        else:
            self._owner_votes()
        self._decide_components()
        self.policy = getattr(rule, "unattributed", "leave")
        self.send = self._index(rule.unattributed_vault) if self.policy == "send" else None
        self.identity_rows = []  # (rowid, id) of the source vault's identity rows
        self.unattributed: Counter[str] = Counter()  # table -> rows nothing ties to a root

    def _read(self, table, exprs):
        for rows in read_rows(self.conn, table, self.rule.source, exprs, self.done):
            self.found.note_hub(table, rows, bool(exprs))
            yield rows

    def _index(self, vault):
        at = self._vault_index.get(vault)
        if at is None:
            at = self._vault_index[vault] = len(self.vaults)
            self.vaults.append(vault)
        return at

    def _vote(self, node, target, evidence):
        self.comp.add(node)
        per_node = self.votes.setdefault(node, {})
        proof = per_node.setdefault(target, [])
        if len(proof) < MAX_EVIDENCE:
            proof.append(evidence)

    def _mapping_votes(self):
        # Conversation ids and session ids are one namespace (graph.py): whatever the
        # header, an id votes for the component it belongs to, and an id found only in
        # leaf rows (a real file's snapshots, arcs, memories) is a root of its own.
        rule = self.rule
        for root, vault in rule.mapping.items():
            self._vote(
                (graph.ROOT, root),
                vault,
                {"key": rule.key, "id": root, "line": rule.lines.get(root)},
            )

    def _owner_votes(self):
        rule = self.rule
        if rule.table not in self.tables:
            raise InvalidRemapRule(
                f"Table {rule.table} does not exist in this database, so it "
                "cannot hold owner values. Nothing was changed. Choose one "
                "of the owner sources the form offers."
            )
        if rule.column not in {c for c, _ in table_columns(self.conn, rule.table)}:
            raise InvalidRemapRule(
                f"{rule.table} has no column {ids.shown(rule.column)}. "
                "Nothing was changed. Choose one of the owner sources the "
                "form offers (only existing columns are offered)."
            )
        follow = graph.FOLLOW_BY_TABLE.get(rule.table)
        exprs = [rule.value_expr()] + ([(follow.expr, ())] if follow else [])
        for rows in read_rows(self.conn, rule.table, rule.source, exprs, self.done):
            for r in rows:
                value = owner_text(r[2])
                if value is None:
                    continue
                node = self._row_node(rule.table, r, follow)
                target = rule.prefix + value
                key = target if ids.is_valid_vault_id(target) else "\0" + target
                self._vote(node, key, {"table": rule.table, "id": r[1], "value": value})

    def _row_node(self, table, r, follow):
        if table in graph.HUBS and r[1] is not None:
            return (graph.HUBS[table], r[1])
        if follow and graph.is_link_value(r[3]):
            return (follow.kind, r[3])
        return ("row", table, r[0])

    def _decide_components(self):
        merged: dict[Any, Any] = {}
        for node, targets in self.votes.items():
            root_targets = merged.setdefault(self.comp.find(node), {})
            for target, proof in targets.items():
                root_targets.setdefault(target, []).extend(proof)
        self.component_votes = merged
        outcome = {}
        for root, targets in merged.items():
            if len(targets) > 1:
                outcome[root] = CONFLICT
                continue
            (target,) = targets
            if target.startswith("\0"):
                outcome[root] = INVALID_TARGET
            elif target == self.rule.source:
                outcome[root] = TARGET_IS_SOURCE
            else:
                outcome[root] = self._index(target)
        self.by_kind: dict[Any, Any] = {}
        self.by_row: dict[Any, Any] = {}
        for node in self.comp.parent:
            code = outcome.get(self.comp.find(node), NOT_REACHED)
            if node[0] == "row":
                self.by_row[(node[1], node[2])] = code
            else:
                self.by_kind.setdefault(node[0], {})[node[1]] = code

    def exprs(self, table):
        follow = graph.FOLLOW_BY_TABLE.get(table)
        return [(follow.expr, ())] if follow and table not in graph.HUBS else []

    def codes(self, table, rows):
        """The outcome code of each row (rowid, id, [link], done)."""
        own = self.by_row
        if table in graph.HUBS:
            nodes = self.by_kind.get(graph.HUBS[table], {})
            return [nodes.get(r[1], NOT_REACHED) for r in rows]
        follow = graph.FOLLOW_BY_TABLE.get(table)
        if not follow:
            return self._unlinked_codes(table, rows)
        self.found.note_leaf(follow.label, rows)
        nodes = self.by_kind.get(follow.kind, {})
        unlinked = NO_LINK if self.send is None else self.send
        out = []
        for r in rows:
            code = own.get((table, r[0])) if own else None
            if code is None:
                link = r[2]
                if link is None or link == "":
                    code = unlinked
                    self.unattributed[table] += 1
                elif isinstance(link, bytes):
                    code = METADATA_NOT_JSON
                else:
                    code = nodes.get(link, NOT_REACHED)
            out.append(code)
        return out

    def _unlinked_codes(self, table, rows):
        if not graph.unattributable(table):
            return [self.by_row.get((table, r[0]), NOT_REACHED) for r in rows]
        if table == "identity":
            self.identity_rows.extend((r[0], r[1]) for r in rows if not r[-1])
        default = UNATTRIBUTED if self.send is None else self.send
        out = [self.by_row.get((table, r[0]), default) for r in rows]
        self.unattributed[table] += len(out) - (
            sum(1 for r in rows if (table, r[0]) in self.by_row) if self.by_row else 0
        )
        return out

    def finish(self, res):
        """After every table: unknown mapping ids are refused; identity copies decided."""
        unknown = self.found.unknown()
        if unknown:
            problems = mapping_ids.unknown_problems(self.conn, self.tables, self.rule, unknown)
            raise MappingFileInvalid(problems, total=len(unknown))
        if self.policy != "copy-identity":
            return []
        if len(self.identity_rows) != 1:
            raise InvalidRemapRule(
                f"'Copy the identity row' needs exactly one identity row in the source vault "
                f"{ids.shown(self.rule.source)}; it has {len(self.identity_rows)}. Nothing "
                "was changed. Choose 'leave' or 'send' for the rows that cannot be attributed."
            )
        targets = sorted(
            {
                self.vaults[c]
                for counts in res.counts.values()
                for c, n in counts.items()
                if c >= 0 and n > 0
            }
        )
        rowid, row_id = self.identity_rows[0]
        return [{"table": "identity", "rowid": rowid, "id": row_id, "targets": targets}]

    def conflict_sample(self, limit=50):
        """Conflicting components: which roots voted for which vaults."""
        out = []
        for root, targets in self.component_votes.items():
            if len(targets) > 1:
                out.append(
                    {
                        "component": _node_text(root),
                        "votes": [
                            {"vault": t.lstrip("\0"), "roots": proof}
                            for t, proof in sorted(targets.items())
                        ],
                    }
                )
                if len(out) >= limit:
                    break
        return out

    def conflict_count(self):
        return sum(1 for t in self.component_votes.values() if len(t) > 1)


def owner_text(value):
    """An owner value as text, or None when the row has none (rows without a value stay)."""
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _node_text(node):
    if node[0] == "row":
        return f"{node[1]} row {node[2]}"
    return f"{node[0]} {ids.shown(node[1])}"
