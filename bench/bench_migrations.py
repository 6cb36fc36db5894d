"""runmigration of 001 + 002 vs the same DDL through sqlite3, on a ~1 GB legacy file."""

import os
import shutil
import sqlite3
import time

from bench.common import line, section
from metamorph import schema
from metamorph.migrate import rehearsal, runner


def _copy(source, name):
    target = os.path.join(os.path.dirname(source), name)
    shutil.copyfile(source, target)
    return target


def raw_ddl(path):
    """The plan's exact statements run directly, one transaction per migration as Metamorph's
    migrator does: the floor we compare with."""
    plans = runner.plan(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        started = time.perf_counter()
        conn.execute(schema.SCHEMA_MIGRATIONS_DDL)
        for p in plans:
            conn.execute("BEGIN IMMEDIATE")
            for step in p.to_run():
                conn.execute(step.sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, '2026-01-01T00:00:00.000Z', 'x')",
                (p.migration_id,),
            )
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def ours(path):
    started = time.perf_counter()
    runner.run_migrations(path)
    return time.perf_counter() - started


def run(legacy_path):
    with section("runmigration 001 + 002 on a legacy database"):
        size = os.path.getsize(legacy_path)
        raws, mine = [], []
        for i in range(2):  # alternate, each on a fresh copy, warm page cache for both
            copy = _copy(legacy_path, f"mig-raw-{i}.db")
            raws.append(raw_ddl(copy))
            os.unlink(copy)
            copy = _copy(legacy_path, f"mig-ours-{i}.db")
            mine.append(ours(copy))
            os.unlink(copy)
        line("001 + 002 (DDL + schema_migrations rows)", min(mine), min(raws), 1.2)
        estimate = rehearsal.estimate_downtime(size)
        print(
            f"  {size / 1e9:.2f} GB legacy file: ours {min(mine):.2f} s; the guide's estimate "
            f"for {estimate['guide_bucket']}: {estimate['guide_estimate']}"
        )
