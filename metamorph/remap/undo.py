"""Undo a completed or interrupted plan from its journal, in short batches too.

Each row goes back to the vault the journal recorded as its old one, only if it is still
where the plan put it (same rowid, same id, still in the new vault): a row changed since
is left alone, marked skipped, and counted. Journal rows are marked undone in the same
transaction as the restore, so an interrupted undo resumes like an interrupted remap.
"""

import os
import time

from .. import schema
from ..connection import open_writable
from ..errors import PlanNotInJournal
from . import batches, copies
from .intents import Restores, reconcile
from .journal import default_journal_path, open_journal, runner_lock


def _quiet(*_args):
    pass


def undo_plan(
    db_path,
    plan_id,
    journal_path=None,
    progress=None,
    batch_seconds=batches.TARGET_HOLD,
    batch_rows=None,
):
    """Restore every row `plan_id` moved to its previous vault; a dict of what was done."""
    report = progress or _quiet
    journal_path = journal_path or default_journal_path(db_path)
    with runner_lock(journal_path):
        conn = open_writable(db_path)
        try:
            journal = _journal_with_plan(conn, db_path, journal_path, plan_id)
            return _undo(conn, journal, db_path, plan_id, report, batch_seconds, batch_rows)
        finally:
            conn.close()


def _journal_with_plan(conn, db_path, journal_path, plan_id):
    mode = conn.execute("PRAGMA main.journal_mode").fetchone()[0].lower()
    if mode != "wal" and not os.path.exists(journal_path):
        raise PlanNotInJournal(plan_id, journal_path)
    journal = open_journal(conn, db_path, journal_path, create=False)
    if journal.record(plan_id) is None:
        raise PlanNotInJournal(plan_id, journal.path)
    return journal


def _undo(conn, journal, db_path, plan_id, report, batch_seconds, batch_rows):
    started = time.perf_counter()
    attached = journal.location == "attached-file"
    if attached:
        reconcile(conn, journal, plan_id)  # what a killed run or undo left settled
    journal.set_state(plan_id, "undoing")
    # Copies (j_old NULL, issue 9) are deleted, not moved back: first, in one transaction.
    removed = 0
    if copies.has_copies(conn, journal, plan_id):  # a transaction of both files: only if needed
        _took, removed = batches.run_transaction(
            conn, db_path, lambda: copies.undo_copies(conn, journal, plan_id)
        )
    tables = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT j_table FROM {journal.rows} WHERE j_plan = ? AND j_undone = 0",
            (plan_id,),
        )
    ]
    todo = {
        t: [
            r[0]
            for r in conn.execute(
                f"SELECT j_rowid FROM {journal.rows} WHERE j_plan = ? AND j_table = ? AND "
                "j_undone = 0 ORDER BY j_rowid",
                (plan_id, t),
            )
        ]
        for t in tables
    }
    total = sum(len(v) for v in todo.values())
    pacer = batches.Pacer(conn, db_path, batch_seconds, batch_rows)
    restored: dict[str, int] = {}
    skipped: dict[str, int] = {}
    done = n_batches = 0
    restores = Restores(conn, journal, plan_id) if attached else None
    for table, rids in todo.items():
        pacer.sizer.new_table()
        i = 0
        while i < len(rids):
            if restores is None:  # a WAL file's journal is inside it: one commit holds both

                def batch(size, i=i, table=table, rids=rids):
                    chunk = rids[i : i + size]
                    return len(chunk), _undo_range(
                        conn, journal, plan_id, table, chunk[0], chunk[-1]
                    )

                held, (tried, (back, skip)) = pacer.run(batch)
            else:
                held, (tried, (back, skip)) = _restore_batch(pacer, restores, table, rids, i)
            restored[table] = restored.get(table, 0) + back
            if skip:
                skipped[table] = skipped.get(table, 0) + skip
            i += tried
            done += tried
            n_batches += 1
            report(
                "undo",
                done,
                total,
                f"batch {n_batches}: {back} {table} rows restored, lock held {held:.2f} s",
            )
    if restores is not None:
        restores.flush()
    journal.set_state(plan_id, "undone", finished=True)
    return {
        "plan_id": plan_id,
        "restored": restored,
        "restored_total": sum(restored.values()),
        "copies_removed": removed,
        "skipped_changed": skipped,
        "batches": n_batches,
        "longest_transaction_s": pacer.stats.to_dict()["longest_hold_s"],
        "lock": pacer.stats.to_dict(),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def _restore_batch(pacer, restores, table, rids, i):
    """One undo batch journaled ahead (intents.py): its rows marked RESTORING in a commit of
    the journal alone, restored in a commit of Metamorph's file alone, then marked undone
    (or skipped) in the next journal commit. (rows tried, (restored, skipped before))."""

    def before(size):
        chunk = rids[i : i + size]
        restores.announce(table, chunk[0], chunk[-1])

    def batch(size):
        return len(rids[i : i + size]), restores.restore()

    held, (tried, restored) = pacer.run(batch, before=before, only=table)
    restores.committed(restored)
    return held, (tried, (len(restored), tried - len(restored)))


def _undo_range(conn, journal, plan_id, table, lo, hi):
    """Inside a transaction: restore the journal rows of one rowid range; (restored, skipped).

    A row changed since the remap (not where the plan put it) is skipped; so is a row whose
    return would break a UNIQUE(vault_id, …) key because the server wrote a row with the
    same key into the old vault meanwhile (OR IGNORE): both are marked skipped, counted."""
    q = schema.quote(table)
    where = "j_plan = ? AND j_table = ? AND j_undone = 0 AND j_rowid BETWEEN ? AND ?"
    args = (plan_id, table, lo, hi)
    changed = conn.execute(
        f"UPDATE {journal.rows} SET j_undone = 2 WHERE {where} AND NOT EXISTS (SELECT 1 FROM "
        f"main.{q} AS t WHERE t.rowid = j_rowid AND t.vault_id IS j_new AND t.id IS j_row_id)",
        args,
    ).rowcount
    back = [
        r[0]
        for r in conn.execute(
            f"UPDATE OR IGNORE main.{q} SET vault_id = r.j_old FROM {journal.rows} AS r WHERE "
            "r.j_plan = ? AND r.j_table = ? AND r.j_undone = 0 AND r.j_rowid BETWEEN ? AND ? "
            f"AND {q}.rowid = r.j_rowid RETURNING {q}.rowid",
            args,
        )
    ]
    marked = conn.execute(
        f"UPDATE {journal.rows} SET j_undone = 1 WHERE {where} AND j_rowid "
        "IN (SELECT value FROM json_each(?))",
        args + ("[" + ",".join(map(str, back)) + "]",),
    ).rowcount
    if marked != len(back):
        raise RuntimeError(f"{table}: restored {len(back)} rows but the journal lists {marked}")
    clashed = conn.execute(f"UPDATE {journal.rows} SET j_undone = 2 WHERE {where}", args).rowcount
    return len(back), changed + clashed
