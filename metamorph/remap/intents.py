"""The attached journal written ahead of each online batch, so that a batch commits only
Metamorph's file.

A transaction that writes two files in rollback-journal mode commits through a super-journal:
three more fsyncs and a directory sync inside the write lock Metamorph waits for (~30 % of a
commit, measured 2026-11-26). Instead, each batch's rows are journaled first, in a commit of the
journal file alone, marked INTENDED; the batch then changes only Metamorph's file; the rows it
really moved (RETURNING) are confirmed, and the rest deleted, in the next journal commit, the
one that also announces the next batch. Those journal commits happen between batches, while
Metamorph has its turn at the lock.

A process killed between the two commits leaves INTENDED rows. `reconcile` (run, under the
runner lock, before an execute or an undo reads the journal) settles them from the file
itself: a row still at its rowid with its id and in its new vault was moved (the server never
changes a row's vault), any other was not. Undo works the same way (`Restores`): its rows are
marked RESTORING in a journal commit, restored in a commit of Metamorph's file alone, then
marked undone or skipped; `reconcile` settles RESTORING rows by whether the row is back in its
old vault. `settle_counts` does both for a status, reading only.
"""

import json
import sqlite3
from contextlib import contextmanager

from .. import schema
from ..connection import readonly_uri

MOVED, UNDONE, SKIPPED = 0, 1, 2
INTENDED = -1  # journaled ahead of its batch, not yet confirmed
RESTORING = -2  # an undo batch's rows, marked ahead of their restore
BATCH = "temp.metamorph_admin_remap_batch"


def _ints(values):
    return "[" + ",".join(map(str, values)) + "]"


class _AheadOfBatches:
    """What a run's Intents and an undo's Restores share: each batch is announced in one
    journal commit and confirmed in the next, which also withdraws a batch announced but
    rolled back (cut at its deadline, retried smaller)."""

    conn: sqlite3.Connection
    _announced: tuple | None
    _pending: tuple | None

    def flush(self):
        """Commit the last confirmation (before anything reads the journal's counts)."""
        if self._pending is None and self._announced is None:
            return
        with journal_transaction(self.conn):
            self._settle_last()

    def _settle_last(self):
        """Inside a journal transaction: the last batch confirmed, an unseen one withdrawn."""
        self._confirm_pending()
        self._withdraw_announced()

    def _confirm_pending(self):
        raise NotImplementedError

    def _withdraw_announced(self):
        raise NotImplementedError


class Intents(_AheadOfBatches):
    """Journal commits between online batches: confirm the last batch, announce the next."""

    def __init__(self, conn, journal, plan_id):
        self.conn, self.journal, self.plan_id = conn, journal, plan_id
        # (table, batch, lo, hi, rows journaled) written, its main commit not seen
        self._announced: tuple[str, int, int, int, int] | None = None
        # the same and the rowids moved, to confirm
        self._pending: tuple[str, int, int, int, int, list[int]] | None = None
        self.unconfirmed = 0  # rows moved whose confirmation is not yet committed

    def announce(self, table, source, rowids, targets, vaults, batch_no):
        """One commit of the journal file: the last batch confirmed, this one's rows (those
        still in `source`) journaled as INTENDED. They are read first into a temporary table
        (memory; the read lock on Metamorph's file ends with that statement, not with the
        journal's commit), which `move` then drives. Returns the rows announced."""
        q = schema.quote(table)
        c = self.conn
        c.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {BATCH} (rid INTEGER PRIMARY KEY, row_id TEXT, "
            "vault TEXT)"
        )
        c.execute(f"DELETE FROM {BATCH}")
        distinct = set(targets)
        if len(distinct) == 1:
            c.execute(
                f"INSERT INTO {BATCH} SELECT rowid, id, ? FROM main.{q} WHERE rowid IN "
                "(SELECT value FROM json_each(?)) AND +vault_id = ?",
                (vaults[next(iter(distinct))], _ints(rowids), source),
            )
        else:
            c.execute(
                f"INSERT INTO {BATCH} SELECT t.rowid, t.id, json_extract(m.value, '$[1]') "
                f"FROM json_each(?) AS m JOIN main.{q} AS t ON "
                "t.rowid = json_extract(m.value, '$[0]') WHERE +t.vault_id = ?",
                (json.dumps([[r, vaults[t]] for r, t in zip(rowids, targets)]), source),
            )
        with journal_transaction(c):
            self._settle_last()
            announced = c.execute(
                f"INSERT INTO {self.journal.rows} (j_plan, j_table, j_rowid, j_row_id, j_old, "
                f"j_new, j_batch, j_undone) SELECT ?, ?, rid, row_id, ?, vault, ?, {INTENDED} "
                f"FROM {BATCH} ORDER BY rid",
                (self.plan_id, table, source, batch_no),
            ).rowcount
        self._announced = (table, batch_no, rowids[0], rowids[-1], announced)
        return announced

    def move(self, table, source):
        """Inside the batch's transaction (Metamorph's file alone): the announced rows still
        at their rowid with their id and in `source` move (OR IGNORE: see
        batches.update_rows); the rowids moved."""
        q = schema.quote(table)
        return [
            r[0]
            for r in self.conn.execute(
                f"UPDATE OR IGNORE main.{q} SET vault_id = b.vault FROM {BATCH} AS b "
                f"WHERE {q}.rowid = +b.rid AND {q}.id IS b.row_id AND +{q}.vault_id = ? "
                f"RETURNING {q}.rowid",
                (source,),
            )
        ]

    def committed(self, moved):
        """The announced batch committed in Metamorph's file, moving `moved` (rowids)."""
        assert self._announced is not None
        self._pending = (*self._announced, moved)
        self._announced = None
        self.unconfirmed = len(moved)

    def _confirm_pending(self):
        if self._pending is None:
            return
        table, batch_no, lo, hi, announced, moved = self._pending
        where = (
            "j_plan = ? AND j_table = ? AND j_rowid BETWEEN ? AND ? AND j_batch = ? "
            f"AND j_undone = {INTENDED}"
        )
        args = (self.plan_id, table, lo, hi, batch_no)
        if len(moved) == announced:  # no row held back
            self.conn.execute(
                f"UPDATE {self.journal.rows} SET j_undone = {MOVED} WHERE {where}", args
            )
        else:
            self.conn.execute(
                f"UPDATE {self.journal.rows} SET j_undone = {MOVED} WHERE {where} "
                "AND j_rowid IN (SELECT value FROM json_each(?))",
                args + (_ints(moved),),
            )
            self.conn.execute(f"DELETE FROM {self.journal.rows} WHERE {where}", args)
        self._pending = None
        self.unconfirmed = 0

    def _withdraw_announced(self):
        """A batch announced but rolled back: its INTENDED rows go."""
        if self._announced is None:
            return
        table, batch_no, lo, hi, _rows = self._announced
        self.conn.execute(
            f"DELETE FROM {self.journal.rows} WHERE j_plan = ? AND j_table = ? AND j_rowid "
            f"BETWEEN ? AND ? AND j_batch = ? AND j_undone = {INTENDED}",
            (self.plan_id, table, lo, hi, batch_no),
        )
        self._announced = None


@contextmanager
def journal_transaction(conn):
    """BEGIN … COMMIT writing only the attached journal (never Metamorph's file)."""
    conn.execute("BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def reconcile(conn, journal, plan_id):
    """Settle what a killed run or undo left between its two commits; counts of rows
    confirmed moved, dropped, confirmed undone and put back in the plan.

    INTENDED rows: moved if the row is in its new vault (same rowid, same id), else dropped.
    RESTORING rows: undone if the row is back in its old vault, else moved still (the undo
    tries them again)."""
    out = {"confirmed": 0, "dropped": 0, "undone": 0, "not_undone": 0}
    if not journal.exists():
        return out
    out["undone"], out["not_undone"] = _settle(conn, journal, plan_id, RESTORING, "j_old", UNDONE)
    out["confirmed"], out["dropped"] = _settle(conn, journal, plan_id, INTENDED, "j_new", MOVED)
    return out


def _settle(conn, journal, plan_id, state, vault_column, settled):
    """Journal rows in `state` whose row sits at its rowid, with its id, in `vault_column`
    become `settled`; the others become MOVED again (an undo's) or are deleted (a run's).
    (settled, others)."""
    tables = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT j_table FROM {journal.rows} WHERE j_plan = ? AND j_undone = ?",
            (plan_id, state),
        )
    ]
    done = others = 0
    for table in tables:
        where, args = "j_plan = ? AND j_table = ? AND j_undone = ?", (plan_id, table, state)
        seqs = [
            r[0]
            for r in conn.execute(
                f"SELECT r.j_seq {_in_place(journal, table, vault_column)}",
                args,
            )
        ]
        rest = (
            f"DELETE FROM {journal.rows}"
            if state == INTENDED
            else f"UPDATE {journal.rows} SET j_undone = {MOVED}"
        )
        with journal_transaction(conn):
            done += conn.execute(
                f"UPDATE {journal.rows} SET j_undone = {settled} WHERE j_seq IN "
                "(SELECT value FROM json_each(?))",
                (json.dumps(seqs),),
            ).rowcount
            others += conn.execute(f"{rest} WHERE {where}", args).rowcount
    return done, others


class Restores(_AheadOfBatches):
    """Journal commits between undo batches: the last restore marked, the next announced."""

    def __init__(self, conn, journal, plan_id):
        self.conn, self.journal, self.plan_id = conn, journal, plan_id
        self._announced: tuple[str, int, int] | None = None
        self._pending: tuple[str, int, int, list[int]] | None = None  # + restored rowids

    def _where(self, table, lo, hi, state):
        return (
            f"j_plan = ? AND j_table = ? AND j_rowid BETWEEN ? AND ? AND j_undone = {state}",
            (self.plan_id, table, lo, hi),
        )

    def announce(self, table, lo, hi):
        """One journal commit: the last restore confirmed, rows lo..hi of `table` marked
        RESTORING."""
        with journal_transaction(self.conn):
            self._settle_last()
            where, args = self._where(table, lo, hi, MOVED)
            self.conn.execute(
                f"UPDATE {self.journal.rows} SET j_undone = {RESTORING} WHERE {where}", args
            )
        self._announced = (table, lo, hi)

    def restore(self):
        """Inside the batch's transaction (Metamorph's file only): the announced rows still
        where the plan put them go back to their old vault; their rowids."""
        assert self._announced is not None
        table, lo, hi = self._announced
        q = schema.quote(table)
        return [
            r[0]
            for r in self.conn.execute(
                f"UPDATE OR IGNORE main.{q} SET vault_id = r.j_old FROM {self.journal.rows} AS r "
                "WHERE r.j_plan = ? AND r.j_table = ? AND r.j_rowid BETWEEN ? AND ? "
                f"AND r.j_undone = {RESTORING} AND {q}.rowid = r.j_rowid "
                f"AND {q}.vault_id IS r.j_new AND {q}.id IS r.j_row_id RETURNING {q}.rowid",
                (self.plan_id, table, lo, hi),
            )
        ]

    def committed(self, restored):
        assert self._announced is not None
        table, lo, hi = self._announced
        self._announced = None
        self._pending = (table, lo, hi, restored)

    def _confirm_pending(self):
        """Restored rows undone; the others of the batch skipped: changed since the remap,
        or their return would break a UNIQUE key the server's writes made clash."""
        if self._pending is None:
            return
        table, lo, hi, restored = self._pending
        where, args = self._where(table, lo, hi, RESTORING)
        self.conn.execute(
            f"UPDATE {self.journal.rows} SET j_undone = {UNDONE} WHERE {where} "
            "AND j_rowid IN (SELECT value FROM json_each(?))",
            args + (_ints(restored),),
        )
        self.conn.execute(
            f"UPDATE {self.journal.rows} SET j_undone = {SKIPPED} WHERE {where}", args
        )
        self._pending = None

    def _withdraw_announced(self):
        """A restore announced but rolled back: its RESTORING rows are MOVED again."""
        if self._announced is None:
            return
        table, lo, hi = self._announced
        where, args = self._where(table, lo, hi, RESTORING)
        self.conn.execute(f"UPDATE {self.journal.rows} SET j_undone = {MOVED} WHERE {where}", args)
        self._announced = None


def settle_counts(conn, journal, plan_id, counts, db_path):
    """Journal counts (Journal.counts) with INTENDED rows settled, reading only: those in their
    new vault are counted moved; the others were not moved. Where the file cannot be read
    (a commit cut mid-way leaves a hot journal only a writer may roll back), they stay
    "intended": unknown until the plan runs again or is undone."""
    tables = [t for t, c in counts.items() if c.get("intended") or c.get("restoring")]
    if not tables:
        return counts
    try:
        conn.execute("ATTACH DATABASE ? AS metamorph_file", (readonly_uri(db_path),))
    except sqlite3.Error:
        return counts
    try:
        for table in tables:
            c = counts[table]
            if c.get("intended"):
                c["moved"] += _in_file(conn, journal, plan_id, table, INTENDED, "j_new")
                del c["intended"]
            if c.get("restoring"):
                back = _in_file(conn, journal, plan_id, table, RESTORING, "j_old")
                c["undone"] += back
                c["moved"] += c.pop("restoring") - back
    except sqlite3.Error:
        pass
    finally:
        conn.execute("DETACH DATABASE metamorph_file")
    return counts


def _in_file(conn, journal, plan_id, table, state, vault_column):
    """How many journal rows in `state` sit in the attached read-only file as `_in_place` says."""
    return conn.execute(
        f"SELECT COUNT(*) {_in_place(journal, table, vault_column, 'metamorph_file')}",
        (plan_id, table, state),
    ).fetchone()[0]


def _in_place(journal, table, vault_column, file="main"):
    """FROM … WHERE for the journal rows (plan, table, state: the three parameters) whose row
    sits in `file` at its rowid, with its id, in the journal's `vault_column`: how a killed
    run's or undo's rows are told apart, by `reconcile` and by `settle_counts` alike."""
    return (
        f"FROM {journal.rows} AS r JOIN {file}.{schema.quote(table)} AS t "
        f"ON t.rowid = r.j_rowid AND t.id IS r.j_row_id AND t.vault_id IS r.{vault_column} "
        "WHERE r.j_plan = ? AND r.j_table = ? AND r.j_undone = ?"
    )
