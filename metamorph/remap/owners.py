"""Which owner values a split by owner can use: only what the file really has.

Metamorph's own tables have no owner column (schema file §1); deployments that added one
(`sessions.created_by`, `semantic_memory.user_id`…) show it here, and so do JSON keys of
`metadata` columns — but only sources whose values look like owners (looks_like_owner):
Metamorph's own `metadata.source` / `metadata.type` split rows by kind, not by user.
Discovery reads a bounded sample of the source vault's rows per table (through the vault
index), so it stays fast on big files.
"""

import json
import re
from collections import Counter
from typing import Any

from .. import schema
from ..connection import open_readonly
from . import graph, ids
from .rows import table_columns, vault_tables
from .rules import DEFAULT_PREFIX
from .split import owner_text

SAMPLE_ROWS = 2_000
SCAN_FACTOR = 10
EXAMPLES = 5
JSON_COLUMNS = ("metadata",)
# Columns that never name an owner, whatever the table (ids, links, times, payloads).
GENERIC = {
    "id",
    schema.VAULT_COLUMN,
    "data",
    "content",
    "metadata",
    "embedding",
    "created_at",
    "updated_at",
    "timestamp",
    "session_id",
    "conversation_id",
}
# Keys Metamorph itself writes into metadata: what wrote a memory, of which kind.
NOT_OWNERS = {"source", "type", "kind", "role", "trigger", "status", graph.CONVERSATION_ID_KEY}
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_TOKEN = re.compile(r"^(?=.*\d)[A-Za-z0-9._:|-]{3,}$")
_OWNER_NAME = re.compile(
    r"user|owner|creat|author|account|tenant|member|customer|vault|"
    r"email|login|principal|person|sub$",
    re.IGNORECASE,
)


def discover_owner_sources(
    db_path, source=schema.DEFAULT_VAULT, sample_rows=SAMPLE_ROWS, prefix=DEFAULT_PREFIX
):
    """Owner columns and metadata JSON keys that carry values in the source vault."""
    with open_readonly(db_path) as conn:
        out = []
        for table in vault_tables(conn, db_path):
            if table in schema.SANDBOX_TABLES:
                continue  # OAuth connections and sandboxes: never an owner source
            known = GENERIC | set(schema.expected_columns(table))
            for column, kind in table_columns(conn, table):
                if column in JSON_COLUMNS:
                    out.extend(_json_sources(conn, table, column, source, sample_rows, prefix))
                elif column not in known and kind != "BLOB":
                    values = _sample(conn, table, schema.quote(column), source, sample_rows)
                    entry = _entry(table, column, None, values, prefix)
                    if entry:
                        out.append(entry)
        return sorted(out, key=lambda e: (-e["with_value"], e["label"]))


def _sample(conn, table, expr, source, limit):
    # Two bounds: at most `limit` values, read from at most SCAN_FACTOR x `limit` rows (a
    # column that is mostly NULL must not make discovery walk a whole big table).
    return [
        r[0]
        for r in conn.execute(
            f"SELECT v FROM (SELECT {expr} AS v FROM {schema.quote(table)} WHERE vault_id = ? "
            "LIMIT ?) WHERE v IS NOT NULL LIMIT ?",
            (source, limit * SCAN_FACTOR, limit),
        )
    ]


def _json_sources(conn, table, column, source, limit, prefix):
    per_key: dict[Any, Any] = {}
    for text in _sample(conn, table, schema.quote(column), source, limit):
        try:
            doc = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        for key, value in doc.items():
            if key == graph.CONVERSATION_ID_KEY or '"' in key:
                continue  # a link, not an owner; or a key SQLite's JSON paths cannot name
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                per_key.setdefault(key, []).append(value)
    entries = (_entry(table, column, key, values, prefix) for key, values in per_key.items())
    return [e for e in entries if e]


def looks_like_id(text):
    """A UUID, an e-mail, or a token with a digit: what user ids look like (not 'agent')."""
    return bool(_UUID.match(text) or _EMAIL.match(text) or _TOKEN.match(text))


def looks_like_owner(name, distinct, with_value):
    """Offer a source only if it splits the rows into several owners and its values look
    like ids, or its name says owner (created_by, userId…). metadata.source ('agent',
    'hook') and metadata.type are descriptions, not owners (issue 9)."""
    if len(distinct) < 2 or name in NOT_OWNERS:
        return False
    if with_value >= 10 and len(distinct) == with_value:
        return False  # one value per row: a row id, not an owner
    named = bool(_OWNER_NAME.search(name))
    id_like = sum(n for v, n in distinct.items() if looks_like_id(v))
    return named or id_like >= 0.9 * with_value


def _entry(table, column, json_key, values, prefix):
    texts = [t for t in (owner_text(v) for v in values) if t is not None]
    if not texts:
        return None
    distinct = Counter(texts)
    if not looks_like_owner(json_key if json_key is not None else column, distinct, len(texts)):
        return None
    invalid = [v for v in distinct if not ids.is_valid_vault_id(prefix + v)]
    label = f"{table}.{column}" + (f" → {json_key}" if json_key is not None else "")
    return {
        "table": table,
        "column": column,
        "json_key": json_key,
        "label": label,
        "with_value": len(texts),
        "distinct_values": len(distinct),
        "examples": [ids.shown(v) for v, _ in distinct.most_common(EXAMPLES)],
        "invalid_examples": [ids.shown(v) for v in invalid[:EXAMPLES]],
        "sampled": True,
    }
