"""Backup and migration beside a running Metamorph (the writer harness), at each size make bench
builds (~1 GB, and ~5 GB unless --large-sessions 0).

For each operation: its time alone and beside the writer (ratio), the writer's p99 and
longest lock wait while the operation ran, and the writer commits lost (must be 0). Raw
sqlite3 (the backup API alone; the migration's exact DDL) is printed beside, as elsewhere.
"""

import os
import shutil
import sqlite3
import tempfile
import time

from bench.bench_migrations import raw_ddl
from bench.common import section
from metamorph import backup
from metamorph.migrate import runner
from metamorph.testing.writer import WRITTEN_TABLES, MetamorphWriter

# Metamorph's busy timeout: a wait longer than this is a failed write in Metamorph.
METAMORPH_TIMEOUT = 5.0


def _gb(path):
    return f"{os.path.getsize(path) / 1e9:.2f} GB"


def _copy(source, name):
    target = os.path.join(os.path.dirname(source), name)
    shutil.copyfile(source, target)
    return target


def _remove(path):
    for p in (path, path + "-journal", path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.unlink(p)


def writer_tables(db_path):
    """The tables the writer writes; without evolution_snapshots in a file built before the
    builder dropped its foreign key (Metamorph declares none: its snapshots would fail)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        fk = conn.execute(
            "SELECT COUNT(*) FROM pragma_foreign_key_list('evolution_snapshots')"
        ).fetchone()[0]
    finally:
        conn.close()
    if not fk:
        return None
    print(
        "  (this bench file predates the builder fix: evolution_snapshots declares a foreign "
        "key Metamorph does not have, so the writer leaves that table out)"
    )
    return [t for t in WRITTEN_TABLES if t != "evolution_snapshots"]


def beside_writer(db_path, operation, work_dir):
    """(seconds, writer report during the operation, commits lost over the whole run)."""
    writer = MetamorphWriter(
        db_path, os.path.join(work_dir, "writer"), tables=writer_tables(db_path)
    ).start()
    try:
        writer.wait_for_commits(20)
        start, t0 = time.time(), time.perf_counter()
        operation()
        seconds, end = time.perf_counter() - t0, time.time()
        writer.wait_for_commits(20)
    finally:
        report = writer.stop()
    return seconds, report.between(start, end), report, len(report.missing_from(db_path))


def _print(name, alone, raw, seconds, during, whole, lost):
    print(
        f"  {name:<28} alone {alone:7.2f} s  raw sqlite3 {raw:7.2f} s  beside the writer "
        f"{seconds:7.2f} s (x{seconds / alone:.2f})"
    )
    over = "" if during.max_wait < METAMORPH_TIMEOUT else "  OVER Metamorph's 5 s timeout"
    print(
        f"  {'':<28} writer during it: {during.commits} commits, p99 wait "
        f"{during.p99_wait * 1000:.0f} ms, max {during.max_wait * 1000:.0f} ms, "
        f"{len(whole.errors)} errors{over}"
    )
    print(
        f"  {'':<28} writer commits lost: {lost} of {whole.commits} "
        f"({'meets' if lost == 0 else 'MISSES'} the target 0)"
    )


def _raw_backup(db_path, dest):
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        started = time.perf_counter()
        src.backup(dst)
        return time.perf_counter() - started
    finally:
        dst.close()
        src.close()


def run_backup_bench(migrated_path):
    with section(
        f"backup beside a running Metamorph (writer: one commit every ~10 ms), {_gb(migrated_path)}"
    ):
        work = tempfile.mkdtemp(prefix="live-bench-", dir=os.path.dirname(migrated_path))
        db = _copy(migrated_path, "live-backup.db")
        try:
            backups = os.path.join(work, "backups")
            raw = _raw_backup(db, os.path.join(work, "raw.db"))
            os.unlink(os.path.join(work, "raw.db"))
            started = time.perf_counter()
            made = backup.run_backup(db, backups)
            alone = time.perf_counter() - started
            backup.apply_retention(backups, 1, protect=made["name"])
            made = {}
            seconds, during, whole, lost = beside_writer(
                db, lambda: made.update(backup.run_backup(db, backups)), work
            )
            _print("verified backup", alone, raw, seconds, during, whole, lost)
            print(
                f"  {'':<28} copy {made['copy_seconds']:.2f} s ({made['copy_mode']}, "
                f"{made['copy_restarts']} restarts), longest read lock on the live file "
                f"{made['longest_read_lock_seconds']:.2f} s (the writer's wait bound)"
            )
        finally:
            _remove(db)
            shutil.rmtree(work, ignore_errors=True)


def run_migration_bench(legacy_path):
    with section(f"runmigration 001 + 002 beside a running Metamorph, {_gb(legacy_path)}"):
        work = tempfile.mkdtemp(prefix="live-bench-", dir=os.path.dirname(legacy_path))
        try:
            db = _copy(legacy_path, "live-mig-raw.db")
            raw = raw_ddl(db)
            _remove(db)
            db = _copy(legacy_path, "live-mig-alone.db")
            started = time.perf_counter()
            runner.run_migrations(db)
            alone = time.perf_counter() - started
            _remove(db)
            db = _copy(legacy_path, "live-mig-writer.db")
            result = {}
            seconds, during, whole, lost = beside_writer(
                db, lambda: result.update(run=runner.run_migrations(db)), work
            )
            _remove(db)
            _print("001 + 002", alone, raw, seconds, during, whole, lost)
            holds = [m.seconds for m in result["run"].migrations]
            print(
                f"  {'':<28} write lock held per migration: "
                + ", ".join(f"{s:.2f} s" for s in holds)
                + " (the writer waits this long at most)"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


def run(migrated_path, legacy_path):
    run_backup_bench(migrated_path)
    run_migration_bench(legacy_path)
