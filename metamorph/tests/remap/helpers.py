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


def journal_rows(journal_path, plan_id, state=0):
    """{(table, rowid): (id, old vault, new vault)} of the plan's journal rows in `state`
    (0 moved; -1 journaled ahead of a batch whose commit may or may not have happened)."""
    conn = sqlite3.connect(journal_path)
    try:
        return {
            (t, rid): (rid_id, old, new)
            for t, rid, rid_id, old, new in conn.execute(
                "SELECT j_table, j_rowid, j_row_id, j_old, j_new FROM remap_journal WHERE j_plan = ? "
                "AND j_undone = ?",
                (plan_id, state),
            )
        }
    finally:
        conn.close()


def moved_per_journal(before, after, journal_path, plan_id):
    """Check that the journal accounts for every row after a cut run and return the rows
    that moved: a row journaled moved is in its new vault; one journaled ahead of its batch
    is in its old vault or its new one; any other row is as it was. No row moved unjournaled."""
    assert set(after) == set(before), "rows were lost or created"
    done = journal_rows(journal_path, plan_id)
    ahead = journal_rows(journal_path, plan_id, state=-1)
    moved = set()
    for key, (row_id, vault) in after.items():
        if key in done:
            j_id, old, new = done[key]
            assert (row_id, before[key][1], vault) == (j_id, old, new), key
            moved.add(key)
        elif key in ahead:
            j_id, old, new = ahead[key]
            assert row_id == j_id and before[key][1] == old and vault in (old, new), key
            if vault == new:
                moved.add(key)
        else:
            assert (row_id, vault) == before[key], key
    return moved


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
    "moved_per_journal",
    "integrity",
    "vault_tables",
]
