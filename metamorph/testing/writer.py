"""A process that writes a Metamorph file the way a running Metamorph server does.

Metamorph (better-sqlite3) commits one small transaction at a time, with busy_timeout 5000
and foreign_keys ON, on the tables its production code really writes (shared/metamorph-schema.md
§1.1): semantic_memory, evolution_snapshots, emotional_arcs, sessions (id = the agent's
conversation id, conversation_id NULL) and operator_performance; in `default-vault` on a
multitenancy server during the rollout's legacy phase, with no vault column before 001.

Run it as a real subprocess beside an operation, then check that every id it logged as
committed is still in the file:

    python -m metamorph.testing.writer DB LOGDIR [--interval 0.01] [--journal-mode wal] ...

or from Python:

    with MetamorphWriter(db, log_dir) as writer:
        run_the_operation()
    report = writer.report          # committed ids, waits (max, p99), errors
    assert report.missing_from(db) == []

LOGDIR receives, each line flushed as it happens:
    committed.tsv  seq  table  id  unix-time            (only after COMMIT returned)
    waits.tsv      seq  unix-time  begin_s  commit_s  wait_s  outcome(ok|error)
    errors.log     unix-time  seq  table  message
    summary.json   at a clean stop (SIGTERM/SIGINT, --duration, --transactions)
Standard library only: tests, `make bench` and an operator's own rehearsal can all use it.
"""

import argparse
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

DEFAULT_VAULT = "default-vault"
VAULT_COLUMN = "vault_id"
BUSY_TIMEOUT_SECONDS = 5.0  # better-sqlite3's default, and Metamorph sets no other
DEFAULT_INTERVAL = 0.01
# One "conversation" of the agent lasts this many transactions: its session row and
# emotional arc are written again (INSERT OR REPLACE, as Metamorph's store does) within it.
TRANSACTIONS_PER_CONVERSATION = 10
WRITTEN_TABLES = (
    "semantic_memory",
    "operator_performance",
    "evolution_snapshots",
    "emotional_arcs",
    "sessions",
)
READY_LINE = "ready"
_OPERATORS = ("reframe", "amplify", "ground", "mirror", "challenge", "synthesize")


def _now_iso():
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# The writing process
# ---------------------------------------------------------------------------------------------


class _Agent:
    """What the agent writes next: a row for one table, linked to the current conversation."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.conversation = str(uuid.uuid4())
        self.turn = 0

    def next_conversation_if_due(self, seq):
        if seq and seq % TRANSACTIONS_PER_CONVERSATION == 0:
            self.conversation = str(uuid.uuid4())
            self.turn = 0
        self.turn += 1

    def row(self, table):
        """(verb, {column: value}) for one Metamorph write; 'id' is what gets logged."""
        r, conv, now = self.r, self.conversation, _now_iso()
        if table == "semantic_memory":
            meta = {"source": "agent"}
            if r.random() < 0.5:
                meta["conversationId"] = conv  # agent.storeMemory adds it; hooks do not
            return "INSERT", {
                "id": str(uuid.uuid4()),
                "type": "episodic",
                "content": f"memory written while the server runs ({conv[:8]})",
                "embedding": r.randbytes(1536),
                "importance": r.random(),
                "decay": 1.0,
                "timestamp": now,
                "metadata": json.dumps(meta),
            }
        if table == "operator_performance":
            return "INSERT", {
                "id": str(uuid.uuid4()),
                "operator_name": r.choice(_OPERATORS),
                "trigger_type": "drift",
                "effectiveness_score": r.random(),
                "transformation_score": r.randint(0, 10),
                "coherence_score": r.randint(0, 10),
                "drift_cost": r.randint(0, 10),
                "timestamp": now,
            }
        if table == "evolution_snapshots":
            return "INSERT", {
                "id": str(uuid.uuid4()),
                "conversation_id": conv,
                "stance": '{"frame":"live"}',
                "trigger": "drift",
                "drift_at_snapshot": r.randint(0, 100),
                "timestamp": now,
            }
        if table == "emotional_arcs":  # saveEmotionalArc: id = conversation id, one per conv
            return "INSERT OR REPLACE", {
                "id": conv,
                "conversation_id": conv,
                "emotions": '["curious"]',
                "insights": '["live"]',
                "patterns": '["steady"]',
                "trend": "up",
                "updated_at": now,
            }
        if table == "sessions":  # the CLI's saveSession: id = conversation id, link NULL
            return "INSERT OR REPLACE", {
                "id": conv,
                "name": f"live {conv[:8]}",
                "conversation_id": None,
                "last_accessed": now,
                "created_at": now,
                "message_count": self.turn,
                "current_frame": "live",
                "current_drift": 0,
            }
        raise ValueError(f"the writer does not write {table}")


class _Logs:
    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        self.dir = log_dir
        self.committed = open(os.path.join(log_dir, "committed.tsv"), "a", buffering=1)
        self.waits = open(os.path.join(log_dir, "waits.tsv"), "a", buffering=1)
        self.errors = open(os.path.join(log_dir, "errors.log"), "a", buffering=1)

    def commit(self, seq, table, row_id, at):
        self.committed.write(f"{seq}\t{table}\t{row_id}\t{at:.6f}\n")
        self.committed.flush()

    def wait(self, seq, at, begin_s, commit_s, outcome):
        self.waits.write(
            f"{seq}\t{at:.6f}\t{begin_s:.6f}\t{commit_s:.6f}\t{begin_s + commit_s:.6f}\t{outcome}\n"
        )
        self.waits.flush()

    def error(self, seq, table, message):
        one_line = " ".join(str(message).split())
        self.errors.write(f"{time.time():.6f}\t{seq}\t{table}\t{one_line}\n")
        self.errors.flush()

    def close(self):
        for fh in (self.committed, self.waits, self.errors):
            fh.close()


def _connect(db_path):
    uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")  # better-sqlite3 turns them on for every connection
    return conn


def _columns(conn, table):
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _write_one(conn, agent, table, vault):
    """One transaction; returns (id, begin_seconds, commit_seconds). Raises on failure."""
    verb, values = agent.row(table)
    t0 = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    begin_s = time.monotonic() - t0
    try:
        # Read inside the transaction: a migration may add vault_id between two commits.
        columns = _columns(conn, table)
        if not columns:
            raise sqlite3.OperationalError(f"no such table: {table}")
        if VAULT_COLUMN in columns:
            values[VAULT_COLUMN] = vault
        names = [c for c in values if c in columns]
        sql = (
            f'{verb} INTO "{table}" ('
            + ", ".join(f'"{c}"' for c in names)
            + ") VALUES ("
            + ", ".join("?" * len(names))
            + ")"
        )
        conn.execute(sql, [values[c] for c in names])
        t1 = time.monotonic()
        conn.execute("COMMIT")
        commit_s = time.monotonic() - t1
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return values["id"], begin_s, commit_s


class _Stop:
    requested = False


def run_writer(
    db_path,
    log_dir,
    interval=DEFAULT_INTERVAL,
    vault=DEFAULT_VAULT,
    tables=None,
    journal_mode=None,
    duration=None,
    transactions=None,
    seed=None,
    announce=None,
    parent=None,
):
    """Write until stopped (SIGTERM/SIGINT), `duration` seconds or `transactions` done, or
    the process `parent` is gone (a test that died must not leave a writer behind)."""
    tables = tuple(tables or WRITTEN_TABLES)
    logs = _Logs(log_dir)
    conn = _connect(db_path)
    if journal_mode:
        got = conn.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0]
        if got.lower() != journal_mode.lower():
            raise SystemExit(f"writer: could not set journal_mode={journal_mode} (got {got})")
    agent = _Agent(seed if seed is not None else os.getpid())
    started, seq, commits, errors, waits = time.monotonic(), 0, 0, 0, []
    announced = False
    try:
        while not _Stop.requested:
            if duration is not None and time.monotonic() - started >= duration:
                break
            if transactions is not None and seq >= transactions:
                break
            if parent is not None and os.getppid() != parent:
                break
            agent.next_conversation_if_due(seq)
            table = tables[seq % len(tables)]
            at = time.time()
            t0 = time.monotonic()
            try:
                row_id, begin_s, commit_s = _write_one(conn, agent, table, vault)
            except sqlite3.Error as exc:
                errors += 1
                spent = time.monotonic() - t0
                code = getattr(exc, "sqlite_errorname", "")
                logs.error(seq, table, f"{type(exc).__name__}: {exc}" + (f" ({code})" * bool(code)))
                logs.wait(seq, at, spent, 0.0, "error")
                waits.append(spent)
            else:
                commits += 1
                logs.commit(seq, table, row_id, time.time())
                logs.wait(seq, at, begin_s, commit_s, "ok")
                waits.append(begin_s + commit_s)
                if not announced and announce:
                    announce()
                    announced = True
            seq += 1
            time.sleep(interval)
    finally:
        conn.close()
        waits.sort()
        summary = {
            "transactions": seq,
            "commits": commits,
            "errors": errors,
            "max_wait_s": round(waits[-1], 6) if waits else 0.0,
            "p99_wait_s": round(_percentile(waits, 0.99), 6),
            "seconds": round(time.monotonic() - started, 3),
        }
        with open(os.path.join(log_dir, "summary.json"), "w") as fh:
            json.dump(summary, fh)
        logs.close()
    return summary


def _percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _request_stop(signum, frame):
    _Stop.requested = True


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m metamorph.testing.writer",
        description="Write a Metamorph database like a running Metamorph server: one small "
        "BEGIN IMMEDIATE transaction every INTERVAL seconds (busy_timeout 5000, "
        "foreign_keys ON), logging every committed id and every lock wait to LOGDIR. "
        "Stops cleanly on SIGTERM/SIGINT.",
    )
    parser.add_argument("db", help="the Metamorph SQLite file (must exist)")
    parser.add_argument(
        "log_dir", help="directory for committed.tsv, waits.tsv, errors.log, summary.json"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help="pause between transactions in seconds (default 0.01)",
    )
    parser.add_argument(
        "--vault",
        default=DEFAULT_VAULT,
        help="vault_id written where the table has the column (default default-vault)",
    )
    parser.add_argument(
        "--tables",
        default=",".join(WRITTEN_TABLES),
        help="comma-separated tables to write, in turn (default: the five Metamorph writes)",
    )
    parser.add_argument(
        "--journal-mode",
        choices=("delete", "wal"),
        help="set the file's journal mode before writing (default: leave it)",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--transactions", type=int, help="stop after this many transactions")
    parser.add_argument("--seed", type=int, help="random seed (default: the pid)")
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop when the process that started the writer ends",
    )
    args = parser.parse_args(argv)
    if not os.path.isfile(args.db):
        parser.error(f"{args.db} does not exist")
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = sorted(set(tables) - set(WRITTEN_TABLES))
    if unknown:
        parser.error(
            f"the writer does not write {', '.join(unknown)}; "
            f"choose from {', '.join(WRITTEN_TABLES)}"
        )
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)

    def announce():
        print(READY_LINE, flush=True)

    summary = run_writer(
        args.db,
        args.log_dir,
        interval=args.interval,
        vault=args.vault,
        tables=tables,
        journal_mode=args.journal_mode,
        duration=args.duration,
        transactions=args.transactions,
        seed=args.seed,
        announce=announce,
        parent=os.getppid() if args.stop_with_parent else None,
    )
    print(json.dumps(summary), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# The Python side: start, stop, read the logs, check the file
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Commit:
    seq: int
    table: str
    id: str
    at: float


@dataclasses.dataclass(frozen=True)
class Wait:
    seq: int
    at: float
    begin_s: float
    commit_s: float
    wait_s: float
    ok: bool


@dataclasses.dataclass
class WriterReport:
    """What the writer did, read from its logs."""

    committed: list
    waits: list
    errors: list
    returncode: int | None

    @property
    def commits(self):
        return len(self.committed)

    @property
    def max_wait(self):
        return max((w.wait_s for w in self.waits), default=0.0)

    @property
    def p99_wait(self):
        return _percentile(sorted(w.wait_s for w in self.waits), 0.99)

    def between(self, start, end):
        """The part of the run between two time.time() values (e.g. an operation's)."""
        return WriterReport(
            [c for c in self.committed if start <= c.at <= end],
            [w for w in self.waits if start <= w.at <= end],
            [e for e in self.errors if start <= e[0] <= end],
            self.returncode,
        )

    def ids_by_table(self):
        out: dict[str, Any] = {}
        for c in self.committed:
            out.setdefault(c.table, set()).add(c.id)
        return out

    def missing_from(self, db_path):
        """Committed ids that are not in `db_path` (opened read-only): [(table, id)]."""
        return missing_ids(db_path, self.ids_by_table())

    def describe(self):
        return (
            f"{self.commits} commits, {len(self.errors)} errors, max wait "
            f"{self.max_wait * 1000:.0f} ms, p99 {self.p99_wait * 1000:.0f} ms"
        )


QUIET_MAX_WAIT_SECONDS = 1.0  # the longest writer wait beside any of our operations, quiet
ONE_COMMIT_SECONDS = 0.5  # a writer's own commit, with room for a busy machine


def wait_bound(held: float, floor: float = QUIET_MAX_WAIT_SECONDS) -> float:
    """The longest wait a writer may see beside an operation whose longest hold of the file's
    lock was `held` seconds, as the operation measured it itself. On a quiet machine that is
    `floor` (the measured waits: docs/performance.md). On a busy one (CI beside other jobs)
    holds stretch with the load and the writer's waits with them, but a writer can still wait
    at most one hold and its own commit: the bound is then that, whichever is larger."""
    return max(floor, held + ONE_COMMIT_SECONDS)


def missing_ids(db_path, ids_by_table):
    """[(table, id)] of the given ids absent from the file (read-only, no lock kept)."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    missing: list[tuple[str, str]] = []
    try:
        for table, ids in sorted(ids_by_table.items()):
            ids = sorted(ids)
            found: set[str] = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                found.update(
                    r[0]
                    for r in conn.execute(
                        f'SELECT id FROM "{table}" WHERE id IN ({",".join("?" * len(chunk))})',
                        chunk,
                    )
                )
            missing.extend((table, i) for i in ids if i not in found)
    finally:
        conn.close()
    return missing


def read_report(log_dir, returncode=None):
    """Parse the writer's logs (also while it runs: only whole lines are read)."""
    return WriterReport(
        _read_commits(log_dir), _read_waits(log_dir), _read_errors(log_dir), returncode
    )


def _lines(path):
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return []
    return [line.split("\t") for line in text.split("\n")[:-1] if line]


def _read_commits(log_dir):
    return [
        Commit(int(s), t, i, float(a))
        for s, t, i, a in _lines(os.path.join(log_dir, "committed.tsv"))
    ]


def _read_waits(log_dir):
    return [
        Wait(int(s), float(a), float(b), float(c), float(w), o == "ok")
        for s, a, b, c, w, o in _lines(os.path.join(log_dir, "waits.tsv"))
    ]


def _read_errors(log_dir):
    return [(float(a), int(s), t, m) for a, s, t, m in _lines(os.path.join(log_dir, "errors.log"))]


def set_journal_mode(db_path, mode):
    """Put the file in `mode` ('delete' or 'wal') before a writer starts."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        got = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
    finally:
        conn.close()
    if got.lower() != mode.lower():
        raise RuntimeError(f"could not put {db_path} in journal_mode={mode} (it is {got})")


class MetamorphWriter:
    """The writer as a subprocess: `with MetamorphWriter(db, logs) as w: ...` then `w.report`."""

    def __init__(
        self,
        db_path,
        log_dir,
        interval=DEFAULT_INTERVAL,
        vault=DEFAULT_VAULT,
        tables=None,
        journal_mode=None,
        ready_timeout=30.0,
    ):
        self.db_path, self.log_dir = os.path.abspath(db_path), os.path.abspath(log_dir)
        self.args = ["--interval", str(interval), "--vault", vault, "--stop-with-parent"]
        if tables:
            self.args += ["--tables", ",".join(tables)]
        if journal_mode:
            self.args += ["--journal-mode", journal_mode]
        self.ready_timeout = ready_timeout
        self.proc = None
        self.report = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        """Start the process and return once its first transaction has committed."""
        os.makedirs(self.log_dir, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), self.db_path, self.log_dir, *self.args],
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(self.log_dir, "stderr.log"), "w"),
            text=True,
        )
        deadline = time.monotonic() + self.ready_timeout
        while read_report(self.log_dir).commits == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the writer did not commit: {self._stderr()}{self._errors_text()}"
                )
            time.sleep(0.01)
        return self

    def wait_for_commits(self, n, timeout=30.0):
        """Block until the writer has committed `n` more transactions than now."""
        target = self.snapshot().commits + n
        deadline = time.monotonic() + timeout
        while self.snapshot().commits < target:
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the writer stopped committing: {self.snapshot().describe()}"
                    f"{self._errors_text()}"
                )
            time.sleep(0.01)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def snapshot(self):
        """The report so far, while the writer runs."""
        return read_report(self.log_dir)

    def stop(self, timeout=15.0):
        """Stop it cleanly (SIGTERM: the current transaction finishes) and read its logs."""
        if self.proc is None:
            return self.report
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.report = read_report(self.log_dir, self.proc.returncode)
        return self.report

    def _stderr(self):
        try:
            with open(os.path.join(self.log_dir, "stderr.log")) as fh:
                return fh.read()[-2000:]
        except OSError:
            return ""

    def _errors_text(self):
        errors = read_report(self.log_dir).errors
        return "" if not errors else " errors: " + "; ".join(e[3] for e in errors[:5])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":
    sys.exit(main())
