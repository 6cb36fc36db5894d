"""Shared pieces of the remap tests: snapshots of every row's vault, mapping files."""

import hashlib
import sqlite3

from metamorph import schema
from metamorph.demo import vault_names

SOURCE = schema.DEFAULT_VAULT


def vault_tables(path):
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return [t for t in schema.VAULT_TABLES if t in names]
    finally:
        conn.close()


def snapshot(path):
    """{(table, rowid): (id, vault)} for every row of every vault table."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for t in vault_tables(path):
            for rowid, row_id, vault in conn.execute(f'SELECT rowid, id, vault_id FROM "{t}"'):
                out[(t, rowid)] = (row_id, vault)
        return out
    finally:
        conn.close()


def file_digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def roots(path, table="conversations", vault=SOURCE):
    conn = sqlite3.connect(path)
    try:
        return [
            r[0]
            for r in conn.execute(
                f'SELECT id FROM "{table}" WHERE vault_id = ? ORDER BY id', (vault,)
            )
        ]
    finally:
        conn.close()


def mapping_csv(pairs, key="conversation_id"):
    return (f"{key},vault_id\n" + "".join(f"{a},{b}\n" for a, b in pairs)).encode()


def spread(ids, vaults=("user-ann", "user-ben", "user-cy")):
    """Assign ids round-robin to a few target vaults."""
    return [(i, vaults[n % len(vaults)]) for n, i in enumerate(ids)]


def moved_rows(before, after):
    return {k: (before[k][1], after[k][1]) for k in before if before[k][1] != after[k][1]}


def journal_rows(journal_path, plan_id):
    conn = sqlite3.connect(journal_path)
    try:
        return {
            (t, rid): (rid_id, old, new)
            for t, rid, rid_id, old, new in conn.execute(
                "SELECT j_table, j_rowid, j_row_id, j_old, j_new FROM remap_journal WHERE j_plan = ? "
                "AND j_undone = 0",
                (plan_id,),
            )
        }
    finally:
        conn.close()


def integrity(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


__all__ = [
    "SOURCE",
    "vault_names",
    "snapshot",
    "file_digest",
    "roots",
    "mapping_csv",
    "spread",
    "moved_rows",
    "journal_rows",
    "integrity",
    "vault_tables",
]
