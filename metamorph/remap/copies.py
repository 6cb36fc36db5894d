"""Copies a plan makes instead of moves: the single identity row into every target vault.

Metamorph keeps one identity (saveIdentity); after a split each user's vault needs its own,
so an operator may choose to copy it (rules.UNATTRIBUTED "copy-identity"). A copy gets a
deterministic id (uuid5 of the original id and the vault) so a resumed run finds the copies
it already made. Each copy is journaled like a move with j_old NULL ("inserted"): undo
deletes it if it is still the row the plan wrote.
"""

import uuid

from .. import schema

_NAMESPACE = uuid.UUID("6f1d3c1e-5b8a-4c39-9a57-3e0c2b7d9e41")


def copy_id(row_id, vault):
    return str(uuid.uuid5(_NAMESPACE, f"{row_id}\0{vault}"))


def copy_rows(conn, journal, plan_id, copies, batch_no):
    """Inside the caller's transaction: insert and journal each copy not made yet; count."""
    made = 0
    for c in copies:
        q = schema.quote(c["table"])
        cols = [
            r[1]
            for r in conn.execute(f"PRAGMA table_info({q})")
            if r[1] not in ("id", schema.VAULT_COLUMN)
        ]
        names = ", ".join(schema.quote(n) for n in cols)
        for vault in c["targets"]:
            new_id = copy_id(c["id"], vault)
            if conn.execute(f"SELECT 1 FROM {q} WHERE id = ?", (new_id,)).fetchone():
                continue
            cur = conn.execute(
                f"INSERT INTO {q} (id, {names}, vault_id) SELECT ?, {names}, ? FROM {q} "
                "WHERE rowid = ? AND id = ?",
                (new_id, vault, c["rowid"], c["id"]),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"{c['table']} row {c['id']} to copy is gone")
            conn.execute(
                f"INSERT INTO {journal.rows} (j_plan, j_table, j_rowid, j_row_id, j_old, j_new, "
                "j_batch) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                (plan_id, c["table"], cur.lastrowid, new_id, vault, batch_no),
            )
            made += 1
    return made


def has_copies(conn, journal, plan_id):
    """Whether the plan made identity copies that its undo must delete."""
    return bool(
        conn.execute(
            f"SELECT 1 FROM {journal.rows} WHERE j_plan = ? AND j_old IS NULL AND j_undone = 0 "
            "LIMIT 1",
            (plan_id,),
        ).fetchone()
    )


def undo_copies(conn, journal, plan_id):
    """Inside the caller's transaction: delete the plan's copies still as it wrote them."""
    removed = 0
    copies = conn.execute(
        f"SELECT j_seq, j_table, j_rowid, j_row_id, j_new FROM {journal.rows} WHERE "
        "j_plan = ? AND j_old IS NULL AND j_undone = 0",
        (plan_id,),
    ).fetchall()
    for seq, table, rowid, row_id, vault in copies:
        gone = conn.execute(
            f"DELETE FROM main.{schema.quote(table)} WHERE rowid = ? AND id = ? AND vault_id = ?",
            (rowid, row_id, vault),
        ).rowcount
        conn.execute(
            f"UPDATE {journal.rows} SET j_undone = ? WHERE j_seq = ?", (1 if gone else 2, seq)
        )
        removed += gone
    return removed
