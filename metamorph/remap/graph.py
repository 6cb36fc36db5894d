"""The link graph a split follows: which rows belong together, and must share a vault.

Rows are tied by `schema.LINKS` plus two links Metamorph keeps outside columns:
semantic_memory's `metadata.conversationId` and session_states, whose id is a session id.
Conversations and sessions are the *hubs*: each is a node keyed by (kind, id); a session
node is united with its conversation's node (a session's conversation is its own, so a
session mapped to a vault pulls its conversation, and the conversation its messages).
Every other linked row follows the node its link names. The rows of one component move
together or not at all: that is what keeps the isolation audit clean after a split.

Links are not trustworthy foreign keys: NULL, empty or dangling links leave a row on
its own (it moves only if a rule names it itself).
"""
from dataclasses import dataclass

from .. import schema

# Parent tables whose rows are nodes, and the node kind their id is.
HUBS = {"conversations": "conversation", "sessions": "session", "session_states": "session",
        "vercel_connections": "vercel_connection"}
_PARENT_KIND = {"conversations": "conversation", "sessions": "session",
                "vercel_connections": "vercel_connection"}
CONVERSATION_ID_KEY = "conversationId"


@dataclass(frozen=True)
class Follow:
    """`table` rows follow the node named by `expr` (SQL over the table's own columns)."""
    table: str
    kind: str
    expr: str
    label: str  # the link in the operator's words: messages.conversation_id


def _json_link(table, column, key):
    col = schema.quote(column)
    return f"CASE WHEN json_valid({col}) THEN json_extract({col}, '$.{key}') END"


def follows():
    """Every link a row can follow, from schema.LINKS plus the two kept outside columns."""
    out = [Follow(l.table, _PARENT_KIND[l.parent], schema.quote(l.column),
                  f"{l.table}.{l.column}") for l in schema.LINKS if l.parent in _PARENT_KIND]
    out.append(Follow("semantic_memory", "conversation",
                      _json_link("semantic_memory", "metadata", CONVERSATION_ID_KEY),
                      f"semantic_memory.metadata.{CONVERSATION_ID_KEY}"))
    out.append(Follow("sandboxes", "vercel_connection", schema.quote("vercel_connection_id"),
                      "sandboxes.vercel_connection_id"))
    return tuple(out)


FOLLOWS = follows()
FOLLOW_BY_TABLE = {f.table: f for f in FOLLOWS}
# Hub tables whose link unites two nodes (a session and its conversation).
HUB_UNIONS = {f.table: f for f in FOLLOWS if f.table in HUBS}
LINK_COLUMNS = {(f.table, f.expr.strip('"')) for f in FOLLOWS}


class Components:
    """Union-find over hub nodes; leaf rows are attached to a node or stand alone."""

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
