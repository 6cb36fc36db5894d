"""Short write transactions: adaptive batch sizes, lock retries, one batch's SQL.

What an online UPDATE of vault_id costs (measured on a 1 GB demo file, 1.2 M rows; see
bench.py): each commit rewrites every page its batch dirtied, in the rollback journal and
in the file, then fsyncs both. A batch walked in rowid order dirties only its own stretch
of the table, but the (vault_id, id) index is in id order — random for UUIDs — so nearly
all of its pages are dirtied by every batch of more than a few thousand rows. The cost per
commit is therefore roughly fixed, and the number of commits decides the overhead over
one big UPDATE: batches are sized from the measured time to hold the write lock for about
`batch_seconds` (0.5 s: the longest measured was 0.55–0.73 s; Metamorph waits 5 s for a
lock before failing), and the connection keeps a 256 MB page cache so a batch's dirty
pages never spill mid-transaction. Ordering batches by conversation or by id instead, or
tiling rowid x id ranges, changed the pages written by less than 20 %: not worth it.
"""
import json
import sqlite3
import time

from .. import schema
from ..connection import translate_write_error

FIRST_BATCH = 2_000
MIN_BATCH = 100
MAX_BATCH = 250_000
LOCK_RETRIES = 5


class Sizer:
    """Next batch size from the last ones' measured rows per second."""

    def __init__(self, seconds, fixed=None):
        self.seconds, self.fixed = seconds, fixed
        self.size = fixed or FIRST_BATCH

    def next(self):
        return self.size

    def record(self, rows, took):
        if self.fixed or rows < self.size:
            return
        wanted = int(rows * self.seconds / max(took, 1e-3))
        # Grow at most 2x (a fresh table may be slower per row), shrink at once.
        self.size = max(MIN_BATCH, min(MAX_BATCH, self.size * 2, wanted))

    def new_table(self):
        if not self.fixed:
            self.size = max(MIN_BATCH, self.size // 2)


def begin_immediate(conn, path):
    """BEGIN IMMEDIATE, retrying while Metamorph (or anyone) holds the write lock."""
    for attempt in range(LOCK_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == LOCK_RETRIES - 1:
                raise translate_write_error(exc, path) from None
            time.sleep(0.2 * (attempt + 1))


def move_batch(conn, journal, plan_id, table, source, rowids, targets, vaults, batch_no):
    """Journal then move one batch (inside the caller's transaction); rows moved.

    `+vault_id` keeps SQLite from walking the whole source vault in its vault index for
    every batch: the batch's rowid list must drive the statement.
    """
    q = schema.quote(table)
    distinct = set(targets)
    if len(distinct) == 1:
        target = vaults[next(iter(distinct))]
        ids = json.dumps(list(rowids))
        conn.execute(
            f"INSERT INTO {journal.rows} (j_plan, j_table, j_rowid, j_row_id, j_old, j_new, "
            f"j_batch) SELECT ?, ?, rowid, id, vault_id, ?, ? FROM {q} "
            "WHERE rowid IN (SELECT value FROM json_each(?)) AND +vault_id = ?",
            (plan_id, table, target, batch_no, ids, source))
        journaled = conn.execute("SELECT changes()").fetchone()[0]
        moved = conn.execute(
            f"UPDATE {q} SET vault_id = ? WHERE rowid IN (SELECT value FROM json_each(?)) "
            "AND +vault_id = ?", (target, ids, source)).rowcount
    else:
        pairs = json.dumps([[r, vaults[t]] for r, t in zip(rowids, targets)])
        m = ("(SELECT json_extract(value, '$[0]') AS rid, json_extract(value, '$[1]') AS v "
             "FROM json_each(?))")
        conn.execute(
            f"INSERT INTO {journal.rows} (j_plan, j_table, j_rowid, j_row_id, j_old, j_new, "
            f"j_batch) SELECT ?, ?, t.rowid, t.id, t.vault_id, m.v, ? FROM {m} AS m "
            f"JOIN {q} AS t ON t.rowid = m.rid WHERE +t.vault_id = ?",
            (plan_id, table, batch_no, pairs, source))
        journaled = conn.execute("SELECT changes()").fetchone()[0]
        moved = conn.execute(
            f"UPDATE {q} SET vault_id = m.v FROM {m} AS m WHERE {q}.rowid = m.rid "
            f"AND +{q}.vault_id = ?", (pairs, source)).rowcount
    if moved != journaled:
        raise RuntimeError(f"{table}: journaled {journaled} rows but moved {moved}")
    return moved


def run_transaction(conn, path, work):
    """BEGIN IMMEDIATE, work(), COMMIT; seconds the write lock was held, work()'s result."""
    begin_immediate(conn, path)
    started = time.perf_counter()
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise translate_write_error(exc, path) from None
        raise
    return time.perf_counter() - started, result
