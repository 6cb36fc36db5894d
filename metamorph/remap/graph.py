"""The link model: which rows belong together and must share a vault (issue 9).

One definition, used by the remap (split.py) and the isolation audit (audit.py).

A *conversation* is an id value, whether or not a `conversations` row holds it (schema
file 1.1: in a real file `conversations` is empty, `sessions.id` is the agent's
conversation id with `conversation_id` NULL, and snapshots, arcs, subagent results and
agent-stored memories carry that same id). Conversation ids and session ids therefore
share one namespace of *root ids*:

- root rows: conversations.id, sessions.id, session_states.id (a session id);
- a session row also joins its `conversation_id` (tidy files), so both ids are one root;
- every other linked row follows the root id its link names: conversation_id columns,
  session_id columns and semantic_memory's `metadata.conversationId`.

Sandboxes follow their vercel_connections row (a namespace of its own). Links are values,
not trustworthy foreign keys: a link naming an id no row holds is still a root (the real
shape), and an empty link ties the row to nothing (it is *unattributable*).
"""

from dataclasses import dataclass

from .. import schema

ROOT = "conversation"  # conversation ids and session ids: one namespace
VERCEL = "vercel_connection"
CONVERSATION_ID_KEY = "conversationId"
# Tables whose own id is a root id, and the namespace it belongs to.
HUBS = {
    "conversations": ROOT,
    "sessions": ROOT,
    "session_states": ROOT,
    "vercel_connections": VERCEL,
}
HUB_LABELS = {
    "conversations": "conversations.id",
    "sessions": "sessions.id",
    "session_states": "session_states.id",
    "vercel_connections": "vercel_connections.id",
}
_PARENT_KIND = {"conversations": ROOT, "sessions": ROOT, "vercel_connections": VERCEL}
# What a link expression yields for a metadata value that is not JSON (a BLOB, never an id).
NOT_JSON = b"\0not-json"


@dataclass(frozen=True)
class Follow:
    """`table` rows follow the root named by `expr` (SQL over the table's own columns)."""

    table: str
    kind: str
    expr: str
    label: str  # the link in the operator's words: messages.conversation_id


def _json_link(column, key):
    col = schema.quote(column)
    # Not-JSON is kept apart from "no key" so the preview can name those rows.
    return (
        f"CASE WHEN {col} IS NULL OR {col} = '' THEN NULL WHEN json_valid({col}) "
        f"THEN json_extract({col}, '$.{key}') ELSE X'{NOT_JSON.hex()}' END"
    )


def follows():
    """Every link a row can follow, from schema.LINKS plus the two kept outside columns."""
    out = [
        Follow(
            link.table,
            _PARENT_KIND[link.parent],
            schema.quote(link.column),
            f"{link.table}.{link.column}",
        )
        for link in schema.LINKS
        if link.parent in _PARENT_KIND
    ]
    out.append(
        Follow(
            "semantic_memory",
            ROOT,
            _json_link("metadata", CONVERSATION_ID_KEY),
            f"semantic_memory.metadata.{CONVERSATION_ID_KEY}",
        )
    )
    out.append(
        Follow(
            "sandboxes",
            VERCEL,
            schema.quote("vercel_connection_id"),
            "sandboxes.vercel_connection_id",
        )
    )
    return tuple(out)


FOLLOWS = follows()
FOLLOW_BY_TABLE = {f.table: f for f in FOLLOWS}
# Hub tables whose link joins two root ids (a session and its conversation).
HUB_UNIONS = {f.table: f for f in FOLLOWS if f.table in HUBS}
LINK_COLUMNS = {(f.table, f.expr.strip('"')) for f in FOLLOWS}


def unattributable(table):
    """A user table with no link at all (identity, operator_performance…): its rows belong to
    no conversation. Sandbox tables are never counted here (OAuth connections stay put)."""
    return table in schema.USER_SCOPED_TABLES and table not in HUBS and table not in FOLLOW_BY_TABLE


def root_sources(tables):
    """(table, kind, expr, label, is_hub) of every place a root id appears in `tables`."""
    out = [(t, HUBS[t], schema.quote("id"), HUB_LABELS[t], True) for t in HUBS if t in tables]
    out += [
        (f.table, f.kind, f.expr, f.label, f.table in HUBS) for f in FOLLOWS if f.table in tables
    ]
    return out


def is_link_value(value):
    """A link value names a root; NULL, '' and the not-JSON marker do not."""
    return value is not None and value != "" and not isinstance(value, bytes)


class Components:
    """Union-find over root nodes (kind, id); leaf rows are attached to a node."""

    def __init__(self):
        self.parent = {}

    def add(self, node):
        self.parent.setdefault(node, node)

    def __contains__(self, node):
        return node in self.parent

    def find(self, node):
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def hub_components(tables, read):
    """Components of every hub row `read(table, exprs)` yields (rows: rowid, id, [link]…).

    Shared by the split (rows of the source vault) and the audit (every vault's rows).
    """
    comp = Components()
    for table in ("conversations", "vercel_connections", "sessions", "session_states"):
        if table not in tables:
            continue
        kind, union = HUBS[table], HUB_UNIONS.get(table)
        exprs = [(union.expr, ())] if union else []
        for rows in read(table, exprs):
            for r in rows:
                if r[1] is None:
                    continue
                node = (kind, r[1])
                comp.add(node)
                if union and is_link_value(r[2]):
                    other = (union.kind, r[2])
                    comp.add(other)
                    comp.union(node, other)
    return comp
