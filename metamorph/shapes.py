"""The data that leaves this library for pages, commands and the cache, by name.

These stay plain dicts at run time (the dashboard caches them as JSON and `vaultreport --json`
prints them, format_version 1); the TypedDicts let mypy and a reader know every key.
"""

from collections.abc import Callable
from typing import Literal, NotRequired, TypedDict

# progress(phase, done, total, message): how every long operation reports where it is; the
# command line turns it into a bar, a job into its Job row.
Progress = Callable[..., None]

TableState = Literal["absent", "not-migrated", "migrated"]
CheckStatus = Literal["ok", "info", "warning", "error"]


class TableCount(TypedDict):
    state: TableState
    total: NotRequired[int]
    by_vault: NotRequired[dict[str, int]]
    blank_vault: NotRequired[int]
    partial: NotRequired[bool]  # the count ran out of time: `total` is a lower bound


class VaultCounts(TypedDict):
    """Rows per vault and table: the dashboard's matrix."""

    tables: dict[str, TableCount]
    complete: bool
    seconds: float
    counted_at: str
    vaults: list[tuple[str, int]]  # largest first (lists of two after a JSON round trip)
    distinct_vaults: int
    total_rows: int
    blank_vault_rows: int
    pending: NotRequired[bool]  # nothing counted yet (counted_at ""): pages show "counting…"


class LockState(TypedDict):
    held: bool
    description: str
    writer_pid: int | None
    reader_pid: list[int]


class AppliedMigration(TypedDict):
    id: str
    applied_at: str
    checksum: str
    checksum_note: NotRequired[str]  # "applied by another build" when not Metamorph's own


class FileFacts(TypedDict):
    """The part of DatabaseHealth that moves every moment: read live, never cached."""

    size_bytes: int
    modified_at: str
    mtime: float  # the same last write to the ns, to tell two writes in one second apart
    wal_size_bytes: int | None
    lock: LockState


class DatabaseHealth(TypedDict):
    path: str
    size_bytes: int
    modified_at: str
    page_size: int
    page_count: int
    freelist_count: int
    journal_mode: str
    wal_size_bytes: int | None
    sqlite_version: str
    applied_migrations: list[AppliedMigration]
    lock: LockState


class IntegrityResult(TypedDict):
    check: str  # "quick_check" or "integrity_check"
    ok: bool
    messages: list[str]
    seconds: float


class CheckResult(TypedDict):
    """One troubleshooting check: what was seen, why, and what to do."""

    id: str
    title: str
    status: CheckStatus
    detail: str
    cause: str
    fix: str


class IndexHealth(TypedDict):
    expected: list[dict]
    extra: list[dict]
    redundant: list[dict]
    plans: list[dict]
    status_counts: dict[str, int]


class Report(TypedDict):
    """Everything the dashboard and `vaultreport` show about one file."""

    path: str
    table_states: dict[str, TableState]
    columns: dict[str, list[str]]
    health: DatabaseHealth
    indexes: IndexHealth
    integrity: IntegrityResult | None
    sizes: dict | None
    isolation: dict | None
    counts: VaultCounts
    checks: list[CheckResult]


class SnapshotPayload(TypedDict):
    """The slow background read the pages show from cache."""

    counts: VaultCounts
    integrity: IntegrityResult
    sizes: dict[str, int] | None  # None where SQLite lacks dbstat
    isolation: dict | None
    seconds: float


class VaultDistribution(TypedDict):
    """Where a file's rows are, for the rollout's phase 3-5 items."""

    distinct_vaults: int
    total_rows: int
    default_vault_rows: int
    default_vault_by_table: dict[str, int]  # tables with rows still in default-vault
    blank_vault_rows: int
    not_migrated: list[str]
    largest_vaults: list[tuple[str, int]]
    complete: bool
    counted_at: str


class QueryPlanEvidence(TypedDict):
    table: str
    plan: str
    index_used: str | None
    full_scan: bool


class IndexEvidence(TypedDict):
    """Expected indexes by status and each vault-scoped query's plan (rollout index items)."""

    status_counts: dict[str, int]
    missing: list[str]
    plans: list[QueryPlanEvidence]
    not_migrated: list[str]
