"""Executing a RemapPlan beside a live Metamorph: the rule re-applied to the data as it is now.

A plan is a rule plus the preview's numbers and row decisions. Executing reads the source
vault again and compares each row's decision with the preview's (decisions.py): rows
decided as previewed move, rows the server added since the preview move too if the rule
reaches them (counted apart), rows whose decision changed are held back and listed. It
never refuses because the server wrote.

Online (default): batches, each its own short BEGIN IMMEDIATE transaction holding the
journal rows and the UPDATE together, sized by the measured lock hold of every batch
(batches.py). After the first pass, catch-up passes move what the server wrote meanwhile;
what arrives after the last batch is reported with the command that moves it (running the
plan again — a completed plan re-applies its rule to new rows; an interrupted one resumes).

Offline (needs downtime): one transaction that drops the vault indexes of the tables it
changes, journals and moves every row, and recreates those indexes with the exact DDL
read from sqlite_master — several times faster, but it holds the write lock throughout.
"""

import sqlite3
import time
from array import array

from .. import schema
from ..connection import describe_lock, lock_state, open_writable
from ..errors import (
    DiskFull,
    OfflineNeedsDowntime,
    PlanStateRefused,
    ReadOnlyDatabase,
    RemapStoppedPartway,
)
from . import batches, copies
from .decisions import Decisions, TableComparison, compare
from .intents import Intents, reconcile
from .journal import default_journal_path, open_journal, runner_lock
from .plan import record_held_back
from .resolve import Resolution, TableWork, resolve
from .rows import DoneRows, vault_tables
from .runresult import run_result

MODES = ("online", "offline")
DURABILITY = {"full": "FULL", "fast": "OFF"}
CACHE_KIB = 262_144  # holds a batch's dirty pages: without it each commit spills
OFFLINE_CHUNK = 100_000
CATCH_UP_PASSES = 3


def _quiet(*_args):
    pass


def execute_plan(
    db_path,
    plan,
    journal_path=None,
    progress=None,
    mode="online",
    batch_seconds=batches.TARGET_HOLD,
    batch_rows=None,
    durability="full",
):
    """Run `plan` on the data as it is now (resuming it if it was interrupted); a dict."""
    if mode not in MODES or durability not in DURABILITY:
        raise ValueError(f"mode must be one of {MODES}, durability one of {tuple(DURABILITY)}")
    journal_path = journal_path or default_journal_path(db_path)
    with runner_lock(journal_path):
        conn = open_writable(db_path)
        try:
            journal = open_journal(conn, db_path, journal_path)
            _tune(conn, journal, durability)
            run = Run(conn, journal, db_path, plan, progress or _quiet, mode, durability)
            pacer = batches.Pacer(conn, db_path, batch_seconds, batch_rows)
            try:
                return run.execute(pacer)
            except (DiskFull, ReadOnlyDatabase) as exc:
                moved = run.unconfirmed + sum(
                    c["moved"] for c in journal.counts(plan.plan_id).values()
                )
                if not moved:
                    raise
                raise RemapStoppedPartway(plan.plan_id, moved, exc) from None
        finally:
            conn.close()


def _tune(conn, journal, durability):
    conn.execute(f"PRAGMA main.cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA temp_store = MEMORY")  # the batch's rows, read ahead (intents.py)
    level = DURABILITY[durability]
    conn.execute(f"PRAGMA main.synchronous = {level}")
    if journal.schema != "main":
        conn.execute(f"PRAGMA {journal.schema}.synchronous = {level}")


def high_water(conn, tables):
    """{table: largest rowid now}: rows above it were written later."""
    return {
        t: conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {schema.quote(t)}").fetchone()[0]
        for t in tables
    }


class Run:
    """One execution of a plan: resolve now, compare, move in passes, report."""

    def __init__(self, conn, journal, db_path, plan, report, mode, durability):
        self.conn, self.journal, self.db_path, self.plan = conn, journal, db_path, plan
        self.report, self.mode, self.durability = report, mode, durability
        self.moved, self.skipped = {}, {}
        self.batch_no = 0
        self.passes = 0
        self.copied = 0
        self.unconfirmed = 0  # rows moved whose journal confirmation could not be written

    def execute(self, pacer):
        started = time.perf_counter()
        plan, journal = self.plan, self.journal
        record = journal.record(plan.plan_id)
        if record is not None and journal.location == "attached-file":
            reconcile(self.conn, journal, plan.plan_id)  # what a killed run left settled
        if record and record["state"] in ("undoing", "undone"):
            raise PlanStateRefused(
                f"Plan {plan.plan_id} was undone (state: {record['state']}), so it is not run "
                "again. Nothing was changed. Preview again to make a new plan."
            )
        self.tables = vault_tables(self.conn, self.db_path)
        self.report("check", 0, 1, "applying the rule to the data as it is now")
        self.marks = high_water(self.conn, self.tables)
        res, comparison = self._resolve(record is not None)
        check_seconds = time.perf_counter() - started
        self.report("check", 1, 1, _check_line(res, comparison, check_seconds))
        if record is None:
            planned = {
                t: row["move"]
                for t, row in plan.preview.get("tables", {}).items()
                if row.get("move")
            }
            journal.start(plan, planned, self.mode)
        else:
            journal.set_state(plan.plan_id, "running")
        self.batch_no = journal.last_batch(plan.plan_id)
        if self.mode == "offline":
            took = self._offline(res)
            pacer.stats.holds.append(took)
        else:
            self._online(res, pacer)
            comparison = self._catch_up(res, comparison, pacer)
        self.copied = self._copy(res, pacer) if res.copies else 0
        arrived = self._arrived_after_last_batch()
        journal.set_state(plan.plan_id, "completed", finished=True)
        return run_result(
            self,
            record,
            comparison,
            pacer.stats,
            arrived,
            time.perf_counter() - started,
            check_seconds,
        )

    def _resolve(self, resumed):
        """The rule on the data now, minus the rows held back against the preview."""
        done = DoneRows(self.journal, self.plan.plan_id) if resumed else None
        current = Decisions()
        res = resolve(self.conn, self.plan.rule, self.db_path, done, observe=current.observe)
        record_held_back(current, res)
        return res, compare(self.plan.decisions, current, res)

    def _online(self, res, pacer):
        if self.journal.location == "attached-file":
            intents = Intents(self.conn, self.journal, self.plan.plan_id)
            try:
                self._batches(res, pacer, intents)
            except BaseException:
                try:  # what the last batch moved, confirmed if the journal can still be written
                    intents.flush()
                except sqlite3.Error:
                    self.unconfirmed = intents.unconfirmed  # the next run's reconcile settles it
                raise
            intents.flush()
        else:  # a WAL file's journal is inside it: one commit holds both
            self._batches(res, pacer, None)

    def _batches(self, res, pacer, intents):
        total, done = res.remaining, 0
        for table, work in res.work.items():
            if not len(work.rowids):
                continue
            pacer.sizer.new_table()
            i, n = 0, len(work.rowids)
            while i < n:

                def slice_of(size, i=i, work=work):
                    return work.rowids[i : i + size], work.targets[i : i + size]

                batch_no = self.batch_no + 1
                if intents is None:

                    def batch(size, table=table, slice_of=slice_of, batch_no=batch_no):
                        rowids, targets = slice_of(size)
                        return len(rowids), self._move(res, table, rowids, targets, batch_no)

                    held, (tried, count) = pacer.run(batch)
                else:
                    held, (tried, count) = self._intended_batch(
                        res, pacer, intents, table, slice_of, batch_no
                    )
                self.batch_no += 1
                self._count(table, tried, count)
                i += tried
                done += tried
                self.report(
                    "move",
                    done,
                    total,
                    f"batch {self.batch_no}: {count} {table} rows, lock held {held:.2f} s",
                )

    def _move(self, res, table, rowids, targets, batch_no):
        """Move and journal rows in the caller's transaction (batches.move_batch)."""
        return batches.move_batch(
            self.conn,
            self.journal,
            self.plan.plan_id,
            table,
            res.source,
            rowids,
            targets,
            res.vaults,
            batch_no,
        )

    def _intended_batch(self, res, pacer, intents, table, slice_of, batch_no):
        """One batch journaled ahead (intents.py): its rows announced in a commit of the
        journal alone, then moved in a commit of Metamorph's file alone."""
        tried = [0]

        def before(size):
            rowids, targets = slice_of(size)
            tried[0] = len(rowids)
            intents.announce(table, res.source, rowids, targets, res.vaults, batch_no)

        def batch(size):
            return tried[0], intents.move(table, res.source)

        held, (tried, moved) = pacer.run(batch, before=before, only=table)
        intents.committed(moved)
        return held, (tried, len(moved))

    def _copy(self, res, pacer):
        """The identity copies (issue 9): one short journaled transaction after the moves."""
        self.batch_no += 1
        took, made = batches.run_transaction(
            self.conn,
            self.db_path,
            lambda: copies.copy_rows(
                self.conn, self.journal, self.plan.plan_id, res.copies, self.batch_no
            ),
            stats=pacer.stats,
        )
        pacer.stats.holds.append(took)
        return made

    def _count(self, table, tried, count):
        if count:
            self.moved[table] = self.moved.get(table, 0) + count
        if count < tried:
            self.skipped[table] = self.skipped.get(table, 0) + tried - count

    def _catch_up(self, res, comparison, pacer):
        """Move what the server wrote during the run, pass by pass, until a pass finds
        nothing (or CATCH_UP_PASSES). A split reads its links again (conflicts re-checked);
        a whole-vault move reads only the rows above the last high-water mark."""
        for _ in range(CATCH_UP_PASSES):
            marks = high_water(self.conn, self.tables)
            if marks == self.marks:
                break
            if self.plan.rule.kind == "move":
                new = self._new_rows(res, self.marks)
                for table, work in new.work.items():
                    stats = comparison.tables.setdefault(table, TableComparison())
                    stats.new_rows += len(work.rowids)
            else:
                new, comparison = self._resolve(True)
            self.marks = marks
            if not new.remaining:
                break
            self.passes += 1
            self.report(
                "catch-up",
                self.passes,
                CATCH_UP_PASSES,
                f"{new.remaining} rows written by the server during the run",
            )
            self._online(new, pacer)
        return comparison

    def _new_rows(self, res, marks):
        """A whole-vault move's work: source rows above `marks` (written since)."""
        work = {}
        for table in self.tables:
            rows = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT rowid FROM {schema.quote(table)} WHERE rowid > ? AND +vault_id = ? "
                    "ORDER BY rowid",
                    (marks.get(table, 0), res.source),
                )
            ]
            if rows:
                work[table] = TableWork(array("q", rows), array("l", [0] * len(rows)))
        return Resolution(
            source=res.source,
            vaults=res.vaults,
            work=work,
            fingerprint="",
            counts={},
            done={},
            samples={},
            unique_clashes=[],
            decider=res.decider,
        )

    def _arrived_after_last_batch(self):
        """Rows in the source vault above the last high-water mark: written after the
        last batch read it."""
        out = {}
        for table in self.tables:
            n = self.conn.execute(
                f"SELECT COUNT(*) FROM {schema.quote(table)} WHERE rowid > ? AND +vault_id = ?",
                (self.marks.get(table, 0), self.plan.rule.source),
            ).fetchone()[0]
            if n:
                out[table] = n
        return out

    def _offline(self, res):
        state = lock_state(self.db_path)
        if state.held:
            raise OfflineNeedsDowntime(self.db_path, describe_lock(state))
        self.conn.execute("PRAGMA main.secure_delete = OFF")  # DROP INDEX 0.06 s, not 1.2 s
        tables = [t for t, w in res.work.items() if len(w.rowids)]
        total = res.remaining

        def work():
            indexes = vault_indexes(self.conn, tables)
            self.report("indexes", 0, len(indexes), f"dropping {len(indexes)} vault indexes")
            for name, _ in indexes:
                self.conn.execute(f"DROP INDEX main.{schema.quote(name)}")
            done = 0
            for table in tables:
                w = res.work[table]
                for i in range(0, len(w.rowids), OFFLINE_CHUNK):
                    rowids = w.rowids[i : i + OFFLINE_CHUNK]
                    targets = w.targets[i : i + OFFLINE_CHUNK]
                    count = self._move(res, table, rowids, targets, self.batch_no + 1)
                    self._count(table, len(rowids), count)
                    done += len(rowids)
                    self.report("move", done, total, f"{table}: {done} of {total} rows")
            for k, (name, sql) in enumerate(indexes, 1):
                self.conn.execute(sql)
                self.report("indexes", k, len(indexes), f"recreated {name}")

        took, _ = batches.run_transaction(self.conn, self.db_path, work)
        self.batch_no += 1
        return took


def _check_line(res, comparison, seconds):
    new = sum(t.new_rows for t in comparison.tables.values())
    held = comparison.held_back_total
    return (
        f"{res.remaining:,} rows to move ({new:,} of them added since the preview), "
        f"{held:,} held back because their decision changed since the preview "
        f"({seconds:.1f} s)"
    )


def vault_indexes(conn, tables):
    """(name, sql) of the droppable indexes that include vault_id, on `tables`."""
    out = []
    for table in tables:
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = "
            "'index' AND tbl_name = ? AND sql IS NOT NULL "
            "ORDER BY name",
            (table,),
        ).fetchall():
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info({schema.quote(name)})")]
            if schema.VAULT_COLUMN in cols:
                out.append((name, sql))
    return out
