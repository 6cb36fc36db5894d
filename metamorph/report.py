"""The whole picture of one Metamorph file, as the dashboard and `vaultreport` show it."""

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any

# remap: its audit module loads only when an audit runs (metamorph/remap/__init__.py).
from . import checks, indexes, inspect, remap
from .connection import open_readonly, schema_cookie, translate_error
from .errors import NotMigrated
from .shapes import IntegrityResult, Progress, Report, SnapshotPayload, VaultCounts


def _operator_errors(func):
    """Any SQLite error met while reading becomes one the operator can act on."""

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise translate_error(exc, path) from None

    return wrapper


@_operator_errors
def build_report(
    path: str,
    counts: VaultCounts | None = None,
    integrity: IntegrityResult | None = None,
    sizes: dict | None = None,
    count_seconds: float | None = None,
    isolation: dict | None = None,
    live_counts: bool = True,
) -> Report:
    """Schema, health, index health and checks, read live (cheap); counts from the cache.

    Without cached `counts`, counts are taken live, bounded by `count_seconds` when given;
    with `live_counts=False` not at all: the counts are `pending` (pages under load never
    wait on a count, the background read fills them in).
    """
    with open_readonly(path) as conn:
        tables = inspect.existing_tables(conn)
        states = inspect.table_states(tables)
        if counts is None and not live_counts:
            counts = inspect.pending_counts(tables)
        elif counts is None:
            counts = inspect.vault_row_counts(conn, seconds=count_seconds, tables=tables)
        report: Report = {
            "path": path,
            "table_states": states,
            "columns": {t: tables[t] for t in states if t in tables},
            "health": inspect.database_health(conn, path, tables),
            "indexes": indexes.index_health(conn, states, tables),
            "integrity": integrity,
            "sizes": sizes,
            "isolation": isolation,
            "counts": counts,
            "checks": [],
        }
        report["checks"] = checks.run_checks(report)
    return report


def with_isolation(report: Report, isolation: dict | None) -> Report:
    """`report` with this isolation audit in it, its checks run again (they read only the
    report): for a report read before the audit was at hand (metamorph/ahead.py)."""
    report = {**report, "isolation": isolation}
    report["checks"] = checks.run_checks(report)
    return report


@_operator_errors
def page_shape(path: str) -> dict:
    """What the pages render besides counts, stored by the background read: the report with
    pending counts, and the schema cookie it was read at (a later one means: read again)."""
    return {"report": build_report(path, live_counts=False), "schema_cookie": schema_cookie(path)}


@_operator_errors
def isolation_if_migrated(path, seconds=None):
    """The isolation audit, or None while tables still lack vault_id (nothing to audit)."""
    try:
        return remap.isolation_audit(path, seconds=seconds)
    except NotMigrated:
        return None


@_operator_errors
def full_snapshot(
    path: str,
    progress: Progress | None = None,
    counted: Callable[[VaultCounts], None] | None = None,
) -> SnapshotPayload:
    """The slow part, for the background: exact counts, quick_check and object sizes.

    `counted(counts)` is called as soon as the counts are in (seconds, where the rest can take
    minutes on a big file), so pages can show them before the read ends."""
    report = progress or (lambda *a: None)
    started = time.monotonic()
    with open_readonly(path) as conn:
        report("counts", 0, 4, "counting rows per vault")
        counts = inspect.vault_row_counts(conn)
        if counted:
            counted(counts)
        report("integrity", 1, 4, "running quick_check")
        integrity = inspect.integrity(conn)
        report("sizes", 2, 4, "measuring table and index sizes")
        sizes = inspect.object_sizes(conn)
    report("isolation", 3, 4, "isolation audit")
    isolation = isolation_if_migrated(path)
    report("done", 4, 4, "done")
    return json_safe(
        {
            "counts": counts,
            "integrity": integrity,
            "sizes": sizes,
            "isolation": isolation,
            "seconds": round(time.monotonic() - started, 3),
        }
    )


def json_safe(value: Any) -> Any:
    """`value` with every BLOB a row held (a vault_id stored as bytes) written as SQLite's
    blob literal x'…', so a report can always be stored and shown as JSON."""
    if isinstance(value, dict):
        return {json_safe(k) if isinstance(k, bytes) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"x'{bytes(value).hex()}'"
    return value
