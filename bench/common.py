"""Shared pieces of `make bench`: the benchmark database and timing."""

import os
import sqlite3
import time
from contextlib import contextmanager

from metamorph.demo import build_demo_database

BENCH_DIR = os.environ.get("BENCH_DIR", os.path.join(os.getcwd(), "bench-data"))


def bench_database(
    state, sessions, vaults=1000, optional_tables=False, shape="linked", session_states=True
):
    """A cached makedemodb database for this size, state and shape (built once, reused)."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    # Linked files keep their old names, so databases already built are reused.
    tag = "" if shape == "linked" and session_states else f"{shape}-"
    path = os.path.join(BENCH_DIR, f"{state}-{tag}{sessions}-{vaults}.db")
    if not os.path.exists(path):
        started = time.monotonic()
        build_demo_database(
            path,
            sessions=sessions,
            vaults=vaults,
            state=state,
            optional_tables=optional_tables,
            shape=shape,
            session_states=session_states,
        )
        print(
            f"  built {path}: {os.path.getsize(path) / 1e9:.2f} GB in "
            f"{time.monotonic() - started:.1f} s"
        )
    return path


def row_total(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
    finally:
        conn.close()


def best_of(n, func):
    """Fastest of n runs (seconds) and the last result: the least disturbed measurement."""
    best, result = None, None
    for _ in range(n):
        started = time.perf_counter()
        result = func()
        took = time.perf_counter() - started
        best = took if best is None else min(best, took)
    return best, result


def line(name, ours, raw, target):
    ratio = ours / raw if raw else float("inf")
    verdict = "meets" if ratio <= target else "MISSES"
    print(
        f"  {name:<46} ours {ours:8.3f} s  raw {raw:8.3f} s  ratio {ratio:5.2f} "
        f"(target <= {target}: {verdict})"
    )
    return ratio


@contextmanager
def section(title):
    print(f"\n== {title}")
    yield
