"""The troubleshooting checks the migration guide makes operators type by hand.

Each check is a small function of the collected report returning one finding:
status (ok / info / warning / error), what was seen, the cause and the fix.
"""

from . import schema
from .indexes import FIX_001
from .remap.ids import is_valid_vault_id
from .shapes import CheckResult, CheckStatus, Report


def _finding(
    check_id: str, title: str, status: CheckStatus, detail: str, cause: str = "", fix: str = ""
) -> CheckResult:
    return {
        "id": check_id,
        "title": title,
        "status": status,
        "detail": detail,
        "cause": cause,
        "fix": fix,
    }


def partial_migration(report):
    states = report["table_states"]
    present = [t for t, s in states.items() if s != "absent" and t in schema.USER_SCOPED_TABLES]
    migrated = [t for t in present if states[t] == "migrated"]
    missing = [t for t in present if states[t] == "not-migrated"]
    applied = {m["id"] for m in report["health"]["applied_migrations"]}
    title = "Partial migration"
    if not migrated:
        return _finding(
            "partial_migration",
            title,
            "info",
            f"No table has vault_id yet ({len(present)} user-scoped tables present): "
            "a legacy database.",
            "Migration 001 has not run.",
            f"Take a backup, then `{FIX_001}`.",
        )
    if missing:
        return _finding(
            "partial_migration",
            title,
            "error",
            f"vault_id on {len(migrated)} tables, missing on: {', '.join(missing)}.",
            "A multitenancy server auto-upgraded some tables (its session adapter "
            "stops at session_states), or a migration was interrupted.",
            f"`{FIX_001}` adds the missing columns and skips the rest.",
        )
    if "001_add_vault_id" not in applied:
        return _finding(
            "partial_migration",
            title,
            "warning",
            "Every present table has vault_id, but schema_migrations has no 001_add_vault_id row.",
            "Columns came from the multitenancy store's auto-upgrade or a fresh "
            "install; the composite indexes and the tracking row are missing.",
            f"`{FIX_001}` creates the indexes and records the migration.",
        )
    return _finding(
        "partial_migration",
        title,
        "ok",
        f"vault_id present on all {len(migrated)} user-scoped tables; 001 recorded.",
    )


def database_locked(report):
    lock = report["health"]["lock"]
    if lock["writer_pid"]:
        return _finding(
            "database_locked",
            "Database locked",
            "error",
            f"Right now {lock['description']}.",
            "Metamorph (or a sqlite3 shell) holds the write lock; a migration would "
            'fail with "database is locked".',
            f"Stop that process (`ps -p {lock['writer_pid']} -o pid,cmd`) before "
            "migrating, or wait for it to finish.",
        )
    if lock["held"]:
        return _finding(
            "database_locked",
            "Database locked",
            "info",
            f"Right now {lock['description']}: reads go on, a migration would wait.",
        )
    return _finding("database_locked", "Database locked", "ok", "No other process holds a lock.")


def data_not_showing(report):
    counts = report.get("counts")
    title = "Data not showing"
    if not counts or not counts["vaults"]:
        return _finding(
            "data_not_showing",
            title,
            "info",
            "No vault ids counted yet (no migrated table, or counts still running).",
        )
    names = [v for v, _ in counts["vaults"][:5]]
    detail = (
        f"{counts['distinct_vaults']} distinct vault ids present; largest: "
        + ", ".join(names)
        + "."
    )
    if [v for v, _ in counts["vaults"]] == [schema.DEFAULT_VAULT]:
        return _finding(
            "data_not_showing",
            title,
            "warning",
            detail,
            "All data sits in default-vault. Users authenticated with their own "
            "vault (or dev mode's dev-vault) see none of it; the X-Vault-Id header "
            "is ignored by the server, so curl checks cannot show it.",
            "Remap legacy data to the users' vaults (Legacy remap page), or give "
            "the single user the id default-vault.",
        )
    return _finding("data_not_showing", title, "ok", detail)


def slow_queries(report):
    idx = report["indexes"]
    missing = [r["name"] for r in idx["expected"] if r["status"] == "missing"]
    scans = [p["table"] for p in idx["plans"] if p["full_scan"]]
    if scans or missing:
        parts = []
        if scans:
            parts.append("full table SCAN for vault queries on " + ", ".join(scans))
        if missing:
            parts.append(
                f"{len(missing)} expected indexes missing ({', '.join(missing[:6])}"
                + ("…" if len(missing) > 6 else "")
                + ")"
            )
        return _finding(
            "slow_queries",
            "Slow queries",
            "error" if scans else "warning",
            "; ".join(parts) + ".",
            "Vault-scoped queries cannot use a (vault_id, …) index.",
            f"`{FIX_001}` (and 002 for sandbox tables) creates them.",
        )
    return _finding(
        "slow_queries", "Slow queries", "ok", "Every migrated table's vault query uses an index."
    )


def bad_vault_ids(report):
    counts = report.get("counts")
    if not counts:
        return _finding("vault_ids", "Vault ids", "info", "Not counted yet.")
    odd = [v for v, _ in counts["vaults"] if not is_valid_vault_id(v)]
    blank = counts.get("blank_vault_rows", 0)
    if odd or blank:
        detail = []
        if blank:
            detail.append(f"{blank} rows with an empty or NULL vault")
        if odd:
            detail.append(
                f"{len(odd)} vault ids outside the id rules: " + ", ".join(repr(v) for v in odd[:5])
            )
        return _finding(
            "vault_ids",
            "Vault ids",
            "warning",
            "; ".join(detail) + ".",
            "Rows written by hand or by a tool that did not validate ids; a ':' "
            "makes Metamorph's session keys (<vault>:<session>) ambiguous.",
            "Move those rows to a valid vault with the Legacy remap page.",
        )
    return _finding("vault_ids", "Vault ids", "ok", "Every vault id follows the id rules.")


def integrity_check(report):
    check = report.get("integrity")
    if not check:
        return _finding("integrity", "Integrity", "info", "quick_check has not run yet.")
    if check["ok"]:
        return _finding(
            "integrity", "Integrity", "ok", f"{check['check']} ok ({check['seconds']} s)."
        )
    return _finding(
        "integrity",
        "Integrity",
        "error",
        "; ".join(check["messages"][:5]),
        "The file is damaged (disk fault, a copy taken mid-write, or a killed "
        "process on a filesystem without proper locking).",
        "Stop Metamorph and restore the newest verified backup.",
    )


def unexpected_columns(report):
    problems = []
    for t, cols in report["columns"].items():
        expected = schema.expected_columns(t)
        if not expected:
            continue
        missing = [c for c in expected if c not in cols]
        if missing:
            problems.append(f"{t} lacks {', '.join(missing)}")
    if problems:
        return _finding(
            "unexpected_columns",
            "Table columns",
            "error",
            "; ".join(problems) + ".",
            "These tables were not created by Metamorph's code (or were altered by "
            "hand); queries and migrations that name those columns will fail.",
            "Check METAMORPH_DATABASE_PATH points at Metamorph's file; compare with "
            "a backup before migrating.",
        )
    return _finding(
        "unexpected_columns",
        "Table columns",
        "ok",
        "Every Metamorph table has the columns Metamorph's code creates.",
    )


def isolation(report):
    audit = report.get("isolation")
    title = "Vault isolation"
    if not audit:
        return _finding(
            "isolation",
            title,
            "info",
            "The isolation audit runs with the "
            "background read (and with `vaultreport --audit`), once tables have vault_id.",
        )
    if audit["clean"]:
        return _finding(
            "isolation",
            title,
            "ok",
            "Every linked row shares the vault of the "
            "conversation or session it links to, with or without a conversations "
            f"row (checked: {', '.join(audit['checked']) or 'no links'}).",
        )
    detail = " ".join(f["message"] for f in audit["findings"][:4]) or (
        "Not finished: " + ", ".join(audit["unfinished"])
    )
    return _finding(
        "isolation",
        title,
        "error" if audit["findings"] else "info",
        detail,
        audit.get("explanation") or "Rows were moved by hand, or a remap stopped half-way.",
        "Resume or undo the remap plan (Remap page), or move the rows to their parent's vault.",
    )


CHECKS = (
    partial_migration,
    unexpected_columns,
    isolation,
    database_locked,
    data_not_showing,
    slow_queries,
    bad_vault_ids,
    integrity_check,
)


def run_checks(report: Report) -> list[CheckResult]:
    return [check(report) for check in CHECKS]
