"""`make bench`: measured figures with ratios against raw sqlite3 in the same process.

Never fails on timing: it prints "meets" / "MISSES" beside each target.
"""

import argparse
import os
import platform
import sys
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import (
    bench_agents,
    bench_backups,
    bench_live,
    bench_load,
    bench_migrations,  # noqa: E402
    bench_offsite,
    bench_remap_online,
    bench_remap_shapes,
    bench_remap_workload,
    bench_rollouts,
    bench_startup,
    bench_vaults,
    bench_whole,
)
from bench.common import bench_database, row_total  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sessions",
        type=int,
        default=int(os.environ.get("BENCH_SESSIONS", 25000)),
        help="sessions in the benchmark databases (25,000 ~ 1 GB)",
    )
    parser.add_argument(
        "--only",
        action="append",
        help="run only these parts: startup, vaults, migrations, backups, verify, "
        "load, agents, remap, online, shapes, rollouts, live, offsite, whole",
    )
    parser.add_argument(
        "--large-sessions",
        type=int,
        default=int(os.environ.get("BENCH_LARGE_SESSIONS", 125000)),
        help="sessions in the second size of the whole-command and live parts (125,000 ~ 5 GB; 0: none)",
    )
    args = parser.parse_args()
    print(
        f"make bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
    migrated = bench_database("migrated", args.sessions)
    print(
        f"  migrated database: {os.path.getsize(migrated) / 1e9:.2f} GB, "
        f"{row_total(migrated)} rows, 1000 vaults"
    )
    if not args.only or "startup" in args.only:
        bench_startup.run(migrated)
    if not args.only or "vaults" in args.only:
        bench_vaults.run(migrated)
    if not args.only or "rollouts" in args.only:
        bench_rollouts.run(migrated)
    if not args.only or "backups" in args.only:
        bench_backups.run(migrated)
    if not args.only or "backups" in args.only or "verify" in args.only:
        bench_backups.run_verify(migrated)
    if not args.only or "offsite" in args.only:
        bench_offsite.run(migrated)
    if not args.only or "load" in args.only:
        bench_load.run_backends(migrated)
    if not args.only or "agents" in args.only:
        bench_agents.run(migrated)
    if not args.only or "remap" in args.only:
        bench_remap_workload.run(migrated)
    if not args.only or "online" in args.only:
        bench_remap_online.run(migrated)
    if not args.only or "shapes" in args.only:
        bench_remap_shapes.run(migrated)
    if not args.only or "migrations" in args.only:
        legacy = bench_database("legacy", args.sessions)
        bench_migrations.run(legacy)
    if not args.only or "whole" in args.only:
        small = (bench_database("legacy", args.sessions), migrated)
        large = (
            (
                bench_database("legacy", args.large_sessions),
                bench_database("migrated", args.large_sessions),
            )
            if args.large_sessions
            else None
        )
        bench_whole.run(small, large)
    if not args.only or "live" in args.only:
        bench_live.run(migrated, bench_database("legacy", args.sessions))
        if args.large_sessions:  # a several-GB file beside a busy writer: its holds grow with it
            bench_live.run(
                bench_database("migrated", args.large_sessions),
                bench_database("legacy", args.large_sessions),
            )


if __name__ == "__main__":
    main()
