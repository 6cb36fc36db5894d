"""What the journal says about a plan: done, interrupted (how many rows remain), undone.

Reads only. The journal file (ours) is opened read-write so that a hot journal a killed
commit left is rolled back; the Metamorph file is opened read-only (mode=ro), for a WAL
database whose journal tables live inside it.
"""

import os
import sqlite3

from ..connection import open_readonly, readonly_uri
from .intents import settle_counts
from .journal import IN_FILE_PREFIX, Journal, default_journal_path, lock_held

STATES = ("running", "interrupted", "completed", "undoing", "undo-interrupted", "undone")


def _open_journal_readonly(db_path, journal_path):
    """(connection, Journal) of whichever journal exists, or (None, None)."""
    if os.path.exists(journal_path) and os.path.getsize(journal_path) > 0:
        # mode=rw, not ro: after a kill mid-commit the journal file has a hot journal that
        # its first reader must roll back (its part of the batch; Metamorph's file rolls
        # back its own part when next opened). Only SELECTs run on this connection.
        uri = readonly_uri(journal_path).replace("?mode=ro", "?mode=rw")
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        journal = Journal(conn, "main", "", journal_path, "attached-file")
        if journal.exists():
            return conn, journal
        conn.close()
    conn = open_readonly(db_path)
    journal = Journal(conn, "main", IN_FILE_PREFIX, db_path, "in-database")
    if journal.exists():
        return conn, journal
    conn.close()
    return None, None


def plan_status(db_path, plan_id, journal_path=None):
    """State of `plan_id`, rows planned / moved / undone / remaining, and what to do next."""
    journal_path = journal_path or default_journal_path(db_path)
    conn, journal = _open_journal_readonly(db_path, journal_path)
    if conn is None:
        return _unknown(plan_id)
    try:
        record = journal.record(plan_id)
        if record is None:
            return _unknown(plan_id)
        counts = _counts(conn, journal, plan_id, db_path)
        return _status(record, counts, lock_held(journal_path))
    finally:
        conn.close()


def incomplete_plans(db_path, journal_path=None):
    """Statuses of the plans that stopped (or are running) before completing their run or
    their undo: what explains a half-remapped database."""
    journal_path = journal_path or default_journal_path(db_path)
    conn, journal = _open_journal_readonly(db_path, journal_path)
    if conn is None:
        return []
    try:
        ids = [
            r[0]
            for r in conn.execute(
                f"SELECT plan_id FROM {journal.plans} WHERE state IN ('running', 'undoing') "
                "ORDER BY started_at"
            )
        ]
        held = lock_held(journal_path)
        return [_status(journal.record(i), _counts(conn, journal, i, db_path), held) for i in ids]
    finally:
        conn.close()


def _counts(conn, journal, plan_id, db_path):
    counts = journal.counts(plan_id)
    if journal.location == "attached-file":
        counts = settle_counts(conn, journal, plan_id, counts, db_path)
    return counts


def _unknown(plan_id):
    return {
        "plan_id": plan_id,
        "state": "unknown",
        "message": f"Plan {plan_id} has not run against this database (no journal record).",
    }


def _status(record, counts, running_now):
    planned = record["planned"]
    per_table, totals = {}, {"planned": 0, "moved": 0, "undone": 0, "skipped": 0, "intended": 0}
    for table in sorted(set(planned) | set(counts)):
        c = counts.get(table, {"moved": 0, "undone": 0, "skipped": 0})
        row = {
            "planned": planned.get(table, 0),
            "moved": c["moved"],
            "undone": c["undone"],
            "skipped": c["skipped"],
            "intended": c.get("intended", 0) + c.get("restoring", 0),
        }
        row["remaining"] = max(0, row["planned"] - row["moved"] - row["undone"] - row["skipped"])
        per_table[table] = row
        for k in totals:
            totals[k] += row[k]
    state = record["state"]
    if state == "running" and not running_now:
        state = "interrupted"
    elif state == "undoing" and not running_now:
        state = "undo-interrupted"
    remaining = (
        totals["moved"]
        if state.startswith("undo")
        else max(0, totals["planned"] - totals["moved"] - totals["undone"] - totals["skipped"])
    )
    return {
        "plan_id": record["plan_id"],
        "state": state,
        "mode": record["mode"],
        "rule": record["rule"],
        "started_at": record["started_at"],
        "finished_at": record["finished_at"],
        "planned_rows": totals["planned"],
        "moved_rows": totals["moved"],
        "undone_rows": totals["undone"],
        "skipped_rows": totals["skipped"],
        "unsettled_rows": totals["intended"],
        "remaining_rows": remaining,
        "tables": per_table,
        "message": _message(record["plan_id"], state, totals, remaining) + _unsettled(totals),
    }


def _unsettled(t):
    if not t["intended"]:
        return ""
    return (
        f" {t['intended']:,} rows of its last batch are not counted: whether that batch "
        "committed is known once the database's cut commit is rolled back (Metamorph or the "
        "next run does it); running or undoing the plan settles them."
    )


def _message(plan_id, state, t, remaining):
    moved, planned = f"{t['moved']:,}", f"{t['planned']:,}"
    if state == "running":
        return f"Plan {plan_id} is running: {moved} of {planned} rows moved so far."
    if state == "interrupted":
        return (
            f"Plan {plan_id} stopped after moving {moved} of {planned} rows "
            f"({remaining:,} remain). Until it is finished, rows that belong together "
            "(a conversation and its messages…) can sit in two vaults, which the "
            "isolation audit shows. Execute the same plan again to resume it, or undo it."
        )
    if state == "completed":
        return f"Plan {plan_id} completed: {moved} rows moved."
    if state == "undoing":
        return f"Plan {plan_id} is being undone: {t['undone']:,} rows restored so far."
    if state == "undo-interrupted":
        return (
            f"The undo of plan {plan_id} stopped: {t['undone']:,} rows restored, "
            f"{remaining:,} still in the plan's target vaults. Run the undo again to "
            "finish it."
        )
    skipped = (
        f" ({t['skipped']:,} skipped: they had changed since the remap)" if t["skipped"] else ""
    )
    return f"Plan {plan_id} was undone: {t['undone']:,} rows restored{skipped}."
