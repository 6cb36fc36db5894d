"""Short write transactions beside a live Metamorph: sizes that follow every batch's
measured lock hold, a hard deadline, a gap for the server's writes, one batch's SQL.

What an online UPDATE of vault_id costs (measured on a 1 GB demo file, 1.2 M rows; see
bench.py): each commit rewrites every page its batch dirtied, in the rollback journal and
in the file, then fsyncs both. The (vault_id, id) index is in id order — random for UUIDs
— so nearly every batch of more than a few thousand rows dirties most of its pages: the
cost per commit is roughly fixed, and the number of commits decides the overhead.

The write lock is what Metamorph waits for (busy timeout 5 s), so a batch is bounded by
the wall time it holds that lock — BEGIN IMMEDIATE to the end of COMMIT, waits for readers
and time lost to other processes on a loaded machine included:
- the size of the next batch follows the hold measured for *every* batch (shrinks at once,
  grows by at most 1.5x, 3x alone), never a one-off calibration;
- a batch whose statements run past the deadline is interrupted and rolled back (cheap:
  its pages are still only in the cache) and retried at a quarter of the size;
- while the server is writing (seen through `PRAGMA data_version`; assumed for the first
  ASSUME_WRITER seconds while another process has the file open or locked, as the kernel
  says), batches aim at WRITER_HOLD and stay under WRITER_MAX_HOLD, so that its waits stay
  under 100 ms, and after each the server has the lock until it has committed and for
  WRITER_SHARE of our hold (at most WRITER_GAP): it keeps half its commit rate or more;
- with no writer seen for WRITER_SEEN_FOR and another process holding the file, a
  QUIET_WINDOW after every QUIET_WINDOW_EVERY seconds of holds, for a writer that just
  arrived; with no other process holding it at all, batches aim at ALONE_HOLD (nobody waits).
"""

import json
import sqlite3
import time
from dataclasses import dataclass, field

from .. import schema
from ..connection import translate_write_error
from ..holders import processes_holding

TARGET_HOLD = 0.3  # seconds a batch aims to hold the write lock…
CALM_HOLD = 0.4  # …or this while the last CALM_BATCHES all held less than CALM_MAX
CALM_BATCHES = 8
CALM_MAX = 0.6
MAX_HOLD = 0.85  # statements + commit must end by then: the deadline leaves room
# for the commit, estimated from the last ones
MAX_STATEMENTS = 0.6
MIN_STATEMENTS = 0.1
FIRST_BATCH = 2_000
MIN_BATCH = 50
MAX_BATCH = 250_000
GROWTH = 1.5
LOCK_RETRIES = 5
WRITER_GAP = 1.0  # longest pause for a waiting writer to commit (a loaded machine may
# take long to schedule it; the pause ends at its commit)
QUIET_GAP = 0.002
QUIET_WINDOW = 0.11  # even with no writer seen: a pause a writer that just arrived can
QUIET_WINDOW_EVERY = 0.5  # use (its busy handler polls every 100 ms), after this much hold
WRITER_SEEN_FOR = 3.0  # seconds a commit by another connection keeps us pausing for it
POLL = 0.003
ASSUME_WRITER = 1.0
# While the server writes: holds short enough that its waits stay under 100 ms (its busy
# handler retries 53 and 78 ms after it began waiting), and a turn after each of
# WRITER_SHARE times the hold, so it keeps at least half its commit rate.
WRITER_HOLD = 0.05
WRITER_MAX_HOLD = 0.075
MIN_STATEMENTS_BESIDE = 0.03
WRITER_SHARE = 1.25
# No other process has the file open (the kernel's tables say so, read every HOLDERS_EVERY s):
# nobody waits for the lock, so batches are larger and commits fewer. A Metamorph that starts
# meanwhile waits for one batch at most (its busy timeout is 5 s: half of it), then is seen.
# Each commit costs ~0.5 s on a 1 GB file whatever its size (1.06 GB, 2026-12-02: 1 s holds
# 2.20x a raw UPDATE, 2 s 1.45x, 3 s 1.11x; 3 s left too little of the 5 s).
ALONE_HOLD = 2.0
ALONE_MAX_HOLD = 2.5
ALONE_MAX_STATEMENTS = 2.0
ALONE_GROWTH = 3.0
HOLDERS_EVERY = 1.0


class BatchInterrupted(Exception):
    """The batch ran past its deadline and was rolled back."""


class Sizer:
    """The next batch size, from the measured lock hold of the last batch.

    Fewer, larger commits are cheaper per row (each rewrites most vault-index pages), so on
    a calm machine — the last CALM_BATCHES holds all under CALM_MAX — batches aim at
    CALM_HOLD; one slow batch (a loaded machine, a slow fsync) brings the aim back to
    `seconds` at once."""

    def __init__(self, seconds=TARGET_HOLD, fixed=None):
        self.base, self.fixed = seconds, fixed
        self.size = fixed or FIRST_BATCH
        self.recent = []
        self.writer = False  # a server writing: aim at WRITER_HOLD
        self.alone = False  # no other process has the file open: aim at ALONE_HOLD

    @property
    def seconds(self):
        if self.writer:
            return min(self.base, WRITER_HOLD)
        if self.alone and self.base == TARGET_HOLD:
            return ALONE_HOLD
        calm = (
            len(self.recent) >= CALM_BATCHES
            and max(self.recent) < CALM_MAX
            and self.base == TARGET_HOLD
        )
        return CALM_HOLD if calm else self.base

    def next(self):
        return self.size

    @property
    def mode(self):
        return "beside_writer" if self.writer else "alone" if self.alone else "shared"

    def set_mode(self, writer, alone):
        """A writer seen or gone, the file opened or closed by another process: the size
        follows the new aim at once (one batch sized for 1 s must not meet a writer)."""
        before = self.seconds
        self.writer, self.alone = writer, alone
        if not self.fixed and self.seconds != before:
            self.size = max(MIN_BATCH, min(MAX_BATCH, int(self.size * self.seconds / before)))

    def record(self, rows, held):
        if self.fixed or rows <= 0:
            return
        self.recent = (self.recent + [held])[-CALM_BATCHES:]
        wanted = int(rows * self.seconds / max(held, 1e-3))
        if held > self.seconds:
            self.size = max(MIN_BATCH, min(self.size, wanted))
        elif rows < self.size:
            return  # a table's last, short batch says little about the next size
        else:
            growth = ALONE_GROWTH if self.alone else GROWTH
            self.size = max(MIN_BATCH, min(MAX_BATCH, int(self.size * growth), wanted))

    def interrupted(self):
        self.size = max(MIN_BATCH, self.size // 4)

    def new_table(self):
        if not self.fixed:
            self.size = max(MIN_BATCH, self.size // 2)


@dataclass
class LockStats:
    """What the job prints: the lock holds and our own waits, batch by batch."""

    holds: list = field(default_factory=list)
    commits: list = field(default_factory=list)
    longest_commit: float = 0.0
    longest_wait: float = 0.0
    interrupted: int = 0
    gaps: float = 0.0
    writer_assumed: bool = True
    # batches run beside a writer, with the file open elsewhere but no writer, alone
    modes: dict = field(default_factory=lambda: {"beside_writer": 0, "shared": 0, "alone": 0})

    def commit_seconds(self, took):
        self.longest_commit = max(self.longest_commit, took)
        self.commits.append(took)

    @property
    def longest(self):
        return max(self.holds, default=0.0)

    def to_dict(self):
        holds = sorted(self.holds)
        p99 = holds[min(len(holds) - 1, int(len(holds) * 0.99))] if holds else 0.0
        return {
            "transactions": len(holds),
            "longest_hold_s": round(self.longest, 4),
            "p99_hold_s": round(p99, 4),
            "mean_hold_s": round(sum(holds) / len(holds), 4) if holds else 0.0,
            "longest_commit_s": round(self.longest_commit, 4),
            "longest_wait_for_lock_s": round(self.longest_wait, 4),
            "interrupted_batches": self.interrupted,
            "pauses_s": round(self.gaps, 3),
            "writer_assumed_at_start": self.writer_assumed,
            "batches_by_mode": dict(self.modes),
        }


class Pacer:
    """Runs batches as short transactions and leaves Metamorph its turn between them."""

    def __init__(self, conn, path, seconds=TARGET_HOLD, fixed=None):
        self.conn, self.path = conn, path
        self.sizer = Sizer(seconds, fixed)
        self.stats = LockStats()
        self._version = self._data_version()
        # Assume Metamorph writes, for the first ASSUME_WRITER seconds, when another process
        # has the file open or locked (or some processes' files cannot be listed): an active
        # one is seen at the first pause, and is then waited for at every pause. With no other
        # holder there is no one to wait for; one that arrives later shows in data_version.
        self.stats.writer_assumed = self._others = self._others_hold_the_file()
        self._writer_seen = (
            time.monotonic()
            - WRITER_SEEN_FOR
            + (ASSUME_WRITER if self.stats.writer_assumed else -1.0)
        )
        self._held_since_window = 0.0
        self._released_at = None
        self._last_hold = 0.0
        self.sizer.set_mode(self.writer_active(), not self.stats.writer_assumed)

    def _data_version(self):
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def _others_hold_the_file(self):
        others = processes_holding(self.path)
        self._holders_read_at = time.monotonic()
        return bool(others) or others.unreadable > 0

    def _others_hold_the_file_lately(self):
        """The kernel's tables read again at most every HOLDERS_EVERY seconds (a read costs
        ~15 ms of /proc here); a process that opens the file meanwhile and writes is seen at
        once through data_version."""
        if time.monotonic() - self._holders_read_at >= HOLDERS_EVERY:
            self._others = self._others_hold_the_file()
        return self._others

    def writer_active(self, now=None):
        return (now or time.monotonic()) - self._writer_seen < WRITER_SEEN_FOR

    def run(self, work, before=None, only=None):
        """work(size) -> (rows tried, result) inside one transaction, retried smaller past
        the deadline; returns (seconds held, (rows tried, result)).

        `before(size)`, if given, runs before each attempt, outside the write lock and
        inside the pause Metamorph gets after the last batch (the journal's commit); `only`
        (a table) keeps the transaction to Metamorph's file (begin_immediate)."""
        smallest_cut = False
        while True:
            size = self.sizer.next()
            if before is not None:
                before(size)
            self._wait_turn()
            # The smallest batch, once cut, gets the longest deadline: a loaded machine
            # makes even it slow, and stopping the remap there would help no one.
            deadline = MAX_STATEMENTS if smallest_cut else self.deadline()
            try:
                held, result = run_transaction(
                    self.conn,
                    self.path,
                    lambda size=size: work(size),
                    deadline,
                    self.stats,
                    only,
                )
            except BatchInterrupted:
                self.stats.interrupted += 1
                self.sizer.interrupted()
                if size <= MIN_BATCH:
                    if smallest_cut:
                        raise
                    smallest_cut = True
                continue
            self.stats.holds.append(held)
            self.stats.modes[self.sizer.mode] += 1
            self.sizer.record(result[0], held)
            self._held_since_window += held
            self._released(held)
            return held, result

    def deadline(self):
        """Seconds the next batch's statements may run: the hold allowed minus room for a
        commit as slow as the slowest of the last few (commits slow down most on a loaded
        machine)."""
        commit = max(self.stats.commits[-3:], default=0.05)
        if self.sizer.writer:
            return max(MIN_STATEMENTS_BESIDE, WRITER_MAX_HOLD - 1.5 * commit)
        if self.sizer.alone:
            return min(ALONE_MAX_STATEMENTS, max(MIN_STATEMENTS, ALONE_MAX_HOLD - 1.5 * commit))
        return min(MAX_STATEMENTS, max(MIN_STATEMENTS, MAX_HOLD - 1.5 * commit))

    def _released(self, held):
        self._released_at = time.monotonic()
        self._last_hold = held

    def _wait_turn(self):
        """Before a batch: while the server writes, leave it the lock until it has committed
        and for at least WRITER_SHARE of our last hold (its commit rate stays at half or
        more), at most WRITER_GAP; otherwise a moment, and a QUIET_WINDOW now and then while
        another process has the file open."""
        if self._released_at is None:
            return
        started = time.monotonic()
        released = self._released_at
        self._released_at = None
        committed = self._data_version() != self._version  # by another connection
        if committed:
            self._writer_seen = started
        alone = False
        if self.writer_active(started):
            self._held_since_window = 0.0
            want = min(WRITER_GAP, WRITER_SHARE * self._last_hold)
            while True:
                now = time.monotonic()
                if (committed and now - released >= want) or now - released >= WRITER_GAP:
                    break
                time.sleep(POLL)
                if self._data_version() != self._version:
                    committed = True
                    self._writer_seen = time.monotonic()
        else:
            others = self._others_hold_the_file_lately()
            if others and self._held_since_window >= QUIET_WINDOW_EVERY:
                self._held_since_window = 0.0  # one that just arrived may be waiting
                time.sleep(max(0.0, QUIET_WINDOW - (time.monotonic() - released)))
                if self._data_version() != self._version:
                    self._writer_seen = time.monotonic()
            else:
                time.sleep(max(0.0, QUIET_GAP - (time.monotonic() - released)))
            alone = not others
        self._version = self._data_version()
        writer = self.writer_active()
        self.sizer.set_mode(writer, alone and not writer)
        self.stats.gaps += time.monotonic() - started


def begin_immediate(conn, path, stats=None, only=None):
    """BEGIN IMMEDIATE, retrying while Metamorph (or anyone) holds the write lock.

    With `only` (a table of Metamorph's file), the write lock is taken on that file alone:
    BEGIN IMMEDIATE puts every attached file in a write transaction, and SQLite then commits
    through a super-journal even when only one file changed (three more fsyncs and a
    directory sync); an UPDATE that changes nothing takes the lock on its own file only."""
    started = time.perf_counter()
    for attempt in range(LOCK_RETRIES):
        try:
            if only is None:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute("BEGIN")
                conn.execute(f"UPDATE main.{schema.quote(only)} SET vault_id = vault_id WHERE 0")
            break
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == LOCK_RETRIES - 1:
                raise translate_write_error(exc, path) from None
            time.sleep(0.2 * (attempt + 1))
    if stats is not None:
        stats.longest_wait = max(stats.longest_wait, time.perf_counter() - started)


def move_batch(conn, journal, plan_id, table, source, rowids, targets, vaults, batch_no):
    """Move one batch and journal exactly the rows moved (inside the caller's transaction,
    which then commits both files: the offline mode, and a WAL file's in-file journal).
    Returns the rows moved."""
    moved = update_rows(conn, table, source, rowids, targets, vaults)
    conn.executemany(
        f"INSERT INTO {journal.rows} (j_plan, j_table, j_rowid, j_row_id, j_old, j_new, "
        "j_batch) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(plan_id, table, rid, row_id, source, new, batch_no) for rid, row_id, new in moved],
    )
    return len(moved)


def update_rows(conn, table, source, rowids, targets, vaults):
    """UPDATE the vault of the rows `rowids` still in `source`; [(rowid, id, new vault)] of
    the rows really moved.

    Only rows still in `source` move (the guard `+vault_id = ?`; the `+` keeps SQLite off
    the vault index, so the batch's rowid list drives the statement). OR IGNORE holds back
    a row whose move would break a UNIQUE(vault_id, …) key that the server's writes made
    clash since the rows were read; RETURNING gives the rows really moved, so the journal
    is exactly what happened.
    """
    q = schema.quote(table)
    distinct = set(targets)
    if len(distinct) == 1:
        target = vaults[next(iter(distinct))]
        return conn.execute(
            f"UPDATE OR IGNORE {q} SET vault_id = ? WHERE rowid IN (SELECT value FROM "
            "json_each(?)) AND +vault_id = ? RETURNING rowid, id, vault_id",
            (target, _json_ints(rowids), source),
        ).fetchall()
    pairs = json.dumps([[r, vaults[t]] for r, t in zip(rowids, targets)])
    m = (
        "(SELECT json_extract(value, '$[0]') AS rid, json_extract(value, '$[1]') AS v "
        "FROM json_each(?))"
    )
    return conn.execute(
        f"UPDATE OR IGNORE {q} SET vault_id = m.v FROM {m} AS m WHERE {q}.rowid = m.rid "
        f"AND +{q}.vault_id = ? RETURNING {q}.rowid, {q}.id, {q}.vault_id",
        (pairs, source),
    ).fetchall()


def _json_ints(values):
    return "[" + ",".join(map(str, values)) + "]"


def run_transaction(conn, path, work, deadline=None, stats=None, only=None):
    """BEGIN IMMEDIATE (on the file of table `only` alone, if given), work(), COMMIT;
    (seconds the write lock was held, work()'s result).

    With `deadline`, statements still running that long after BEGIN are interrupted and
    the transaction rolled back (BatchInterrupted)."""
    begin_immediate(conn, path, stats, only)
    started = time.perf_counter()
    if deadline is not None:
        stop = started + deadline
        conn.set_progress_handler(lambda: int(time.perf_counter() > stop), 10_000)
    try:
        result = work()
        if deadline is not None:
            conn.set_progress_handler(None, 0)
        committing = time.perf_counter()
        conn.execute("COMMIT")
        if stats is not None:
            stats.commit_seconds(time.perf_counter() - committing)
    except BaseException as exc:
        if deadline is not None:
            conn.set_progress_handler(None, 0)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            raise BatchInterrupted() from None
        if isinstance(exc, sqlite3.DatabaseError):
            raise translate_write_error(exc, path) from None
        raise
    return time.perf_counter() - started, result
