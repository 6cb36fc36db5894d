"""Splits (by owner value, by mapping file): votes on link components decide each row.

A root row (a conversation or session named in the mapping file, a row carrying an owner
value) casts a vote for a target vault on its component (graph.py). A component with one
target moves there whole; with two or more it is a conflict and stays; with none it is
not reached and stays. Rows outside every component (no link, dangling link) stay too.
"""
from ..errors import InvalidRemapRule, MappingFileInvalid
from . import graph, ids
from .rows import read_rows, table_columns

# Outcome codes of a row that does not move (a move is the target's index, >= 0).
NOT_REACHED, NO_LINK, DANGLING, CONFLICT, INVALID_TARGET, TARGET_IS_SOURCE, UNIQUE_CLASH = (
    -1, -2, -3, -4, -5, -6, -7)
REASONS = {
    NOT_REACHED: ("not_reached", "no rule reaches its link component"),
    NO_LINK: ("no_link", "its link column is empty, so nothing ties it to a root"),
    DANGLING: ("dangling_link", "its link names no row of the source vault (missing, or in "
                                "another vault)"),
    CONFLICT: ("conflict", "its component holds roots sent to different vaults"),
    INVALID_TARGET: ("invalid_target", "its owner value does not make a valid vault id"),
    TARGET_IS_SOURCE: ("target_is_source", "its rule sends it to the source vault itself"),
    UNIQUE_CLASH: ("unique_clash", "the target vault already holds a row with the same "
                                   "unique key"),
}
MAX_EVIDENCE = 3
_HUB_ORDER = ("conversations", "vercel_connections", "sessions", "session_states")


class SplitDecider:
    """Reads the hubs and the rule's roots once, then decides any row of any table."""

    def __init__(self, conn, tables, rule, done, vaults):
        self.conn, self.tables, self.rule, self.done = conn, tables, rule, done
        self.vaults = vaults            # target vault ids by index (shared with the plan)
        self.comp = graph.Components()
        self.votes = {}                 # node -> {target or "\0value": [evidence]}
        self._read_hubs()
        if rule.kind == "mapping":
            self._mapping_votes()
        else:
            self._owner_votes()
        self._decide_components()

    def _read_hubs(self):
        for table in _HUB_ORDER:
            if table not in self.tables:
                continue
            kind, union = graph.HUBS[table], graph.HUB_UNIONS.get(table)
            exprs = [(union.expr, ())] if union else []
            for rows in read_rows(self.conn, table, self.rule.source, exprs, self.done):
                for r in rows:
                    if r[1] is None:
                        continue
                    node = (kind, r[1])
                    self.comp.add(node)
                    if union and r[2] and (union.kind, r[2]) in self.comp:
                        self.comp.union(node, (union.kind, r[2]))

    def _vote(self, node, target, evidence):
        per_node = self.votes.setdefault(node, {})
        proof = per_node.setdefault(target, [])
        if len(proof) < MAX_EVIDENCE:
            proof.append(evidence)

    def _mapping_votes(self):
        rule = self.rule
        kind = "conversation" if rule.key == "conversation_id" else "session"
        unknown = []
        for root, vault in rule.mapping.items():
            node = (kind, root)
            if node not in self.comp:
                unknown.append(root)
                continue
            self._vote(node, vault, {"key": rule.key, "id": root, "line": rule.lines.get(root)})
        if unknown:
            raise MappingFileInvalid(self._unknown_problems(unknown), total=len(unknown))

    def _unknown_problems(self, unknown):
        rule = self.rule
        table = "conversations" if rule.key == "conversation_id" else "sessions"
        problems = []
        for root in sorted(unknown, key=lambda r: rule.lines.get(r, 0))[:20]:
            row = None
            if table in self.tables:
                row = self.conn.execute(f"SELECT vault_id FROM {table} WHERE id = ?",
                                        (root,)).fetchone()
            where = (f"it is in vault {ids.shown(row[0])}, not in the source vault"
                     if row else "no such id in the database")
            problems.append((rule.lines.get(root, 0),
                             f"{rule.key} {ids.shown(root)} is not in the source vault "
                             f"{ids.shown(rule.source)} ({where})"))
        return problems

    def _owner_votes(self):
        rule = self.rule
        if rule.table not in self.tables:
            raise InvalidRemapRule(f"Table {rule.table} does not exist in this database, so it "
                                   "cannot hold owner values. Nothing was changed. Choose one "
                                   "of the owner sources the form offers.")
        if rule.column not in {c for c, _ in table_columns(self.conn, rule.table)}:
            raise InvalidRemapRule(f"{rule.table} has no column {ids.shown(rule.column)}. "
                                   "Nothing was changed. Choose one of the owner sources the "
                                   "form offers (only existing columns are offered).")
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
        if follow and r[3] and (follow.kind, r[3]) in self.comp:
            return (follow.kind, r[3])
        node = ("row", table, r[0])
        self.comp.add(node)
        return node

    def _decide_components(self):
        merged = {}
        for node, targets in self.votes.items():
            root_targets = merged.setdefault(self.comp.find(node), {})
            for target, proof in targets.items():
                root_targets.setdefault(target, []).extend(proof)
        self.component_votes = merged
        index = {v: i for i, v in enumerate(self.vaults)}
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
                if target not in index:
                    index[target] = len(self.vaults)
                    self.vaults.append(target)
                outcome[root] = index[target]
        self.by_kind, self.by_row = {}, {}
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
            return [own.get((table, r[0]), NOT_REACHED) for r in rows]
        nodes = self.by_kind.get(follow.kind, {})
        if not own:
            return [nodes.get(r[2], DANGLING) if r[2] else NO_LINK for r in rows]
        out = []
        for r in rows:
            code = own.get((table, r[0])) if own else None
            if code is None:
                link = r[2]
                if link is None or link == "":
                    code = NO_LINK
                else:
                    code = nodes.get(link, DANGLING)
            out.append(code)
        return out

    def conflict_sample(self, limit=50):
        """Conflicting components: which roots voted for which vaults."""
        out = []
        for root, targets in self.component_votes.items():
            if len(targets) > 1:
                out.append({"component": _node_text(root),
                            "votes": [{"vault": t.lstrip("\0"), "roots": proof}
                                      for t, proof in sorted(targets.items())]})
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
