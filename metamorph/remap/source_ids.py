"""The source vault's conversation and session ids with their row counts: the list an operator
fills in to make a mapping file (its first two columns are the mapping's, csvmap.py).

Conversation ids and session ids are one namespace (graph.py), so one list holds both: every
root id that a hub row holds or a link names, with how many rows of the source vault it ties
and where it appears.
"""

from dataclasses import dataclass, field

from .. import schema
from ..connection import open_readonly
from . import graph
from .rows import vault_tables

HEADER = ("conversation_id", "vault_id", "rows", "found_in")


@dataclass
class RootId:
    id: str
    rows: int = 0
    found_in: set = field(default_factory=set)


def source_root_ids(db_path, source=schema.DEFAULT_VAULT):
    """Every conversation/session id of `source` with the rows it ties, most rows first."""
    found: dict[str, RootId] = {}
    with open_readonly(db_path) as conn:
        tables = vault_tables(conn, db_path)
        for table, kind, expr, label, _ in graph.root_sources(tables):
            if kind != graph.ROOT:
                continue
            query = (
                f"SELECT v, COUNT(*) FROM (SELECT {expr} AS v FROM {schema.quote(table)} "
                "WHERE vault_id = ?) WHERE typeof(v) = 'text' AND v != '' GROUP BY v"
            )
            for value, n in conn.execute(query, (source,)):
                entry = found.setdefault(value, RootId(value))
                entry.rows += n
                entry.found_in.add(label)
    return sorted(found.values(), key=lambda r: (-r.rows, r.id))


def template_rows(db_path, source=schema.DEFAULT_VAULT):
    """The CSV rows of the fill-in list: header, then id, empty vault_id, rows, found in."""
    yield HEADER
    for root in source_root_ids(db_path, source):
        yield (root.id, "", root.rows, " + ".join(sorted(root.found_in)))
