"""Job summaries of the migration and backup kinds (see metamorph_admin.job_summary)."""

from django.urls import reverse

from metamorph.backup import manifest as manifests
from metamorph_admin.formatting import size
from metamorph_admin.job_summary import (
    Finding,
    JobSummary,
    Link,
    SummaryTable,
    add_tables,
    backup_link,
    row_counts_table,
    vault_table,
)


def _backup_facts(summary, b, prefix=""):
    name = b.get("name")
    summary.fact(f"{prefix}backup", name, href=backup_link(name), code=True)
    size_bytes = b.get("backup_size_bytes", b.get("database_size_bytes"))
    if size_bytes is not None:
        summary.fact(f"{prefix}size", size(size_bytes))
    summary.fact(f"{prefix}sha256", b.get("sha256"), code=True)
    summary.fact(f"{prefix}rows", b.get("total_rows"))


def backup(job):
    r = job.result or {}
    s = JobSummary(
        headline=(
            f"Verified backup {r.get('name', '')}: {size(r.get('backup_size_bytes'))}, "
            f"{r.get('total_rows', 0):,} rows, integrity_check {r.get('integrity_check', '?')}."
        )
    )
    _backup_facts(s, r)
    s.fact("label", r.get("label"))
    s.fact("gzip", r.get("compressed"))
    s.fact("source", r.get("source_path"), code=True)
    s.fact("copy / verify (s)", f"{r.get('copy_seconds', 0)} / {r.get('verify_seconds', 0)}")
    s.fact("Metamorph's commits waited at most (s)", r.get("longest_read_lock_seconds"))
    for warning in manifests.operator_warnings(r):
        s.findings.append(Finding(False, warning))
    for name in r.get("deleted") or []:
        s.findings.append(Finding(None, f"Older backup {name} deleted (keep N)."))
    stored = r.get("repository") or {}
    if stored:
        s.fact("stored in the repository as", stored.get("archive"))
        s.fact("added to the repository (deduplicated)", size(stored.get("added_bytes")))
    for name in stored.get("dropped") or []:
        s.findings.append(Finding(None, f"Archive {name} dropped from the repository (retention)."))
    add_tables(s, row_counts_table(r.get("row_counts")), vault_table(r.get("vault_totals")))
    s.links.append(Link("Backup details", backup_link(r.get("name"))))
    s.links.append(Link("All backups", reverse("migrations_ui:backups")))
    return s


def verify_backup(job):
    r = job.result or {}
    s = JobSummary(headline=f"{r.get('name', 'Backup')}: {r.get('message', r.get('state', ''))}.")
    s.fact("backup", r.get("name"), href=backup_link(r.get("name")), code=True)
    s.fact("state", r.get("state"))
    s.fact(
        "sha256 matches the manifest",
        r.get("expected_sha256") == r.get("actual_sha256") if r.get("expected_sha256") else None,
    )
    s.fact("sha256", r.get("actual_sha256"), code=True)
    s.fact("integrity_check", r.get("integrity"))
    s.fact("seconds", r.get("seconds"))
    s.links.append(Link("All backups", reverse("migrations_ui:backups")))
    return s


def restore(job):
    r = job.result or {}
    s = JobSummary(headline=f"Backup {r.get('name', '')} restored into the live database.")
    s.fact("restored backup", r.get("name"), href=backup_link(r.get("name")), code=True)
    s.fact(
        "safety backup of the old file",
        r.get("safety_backup"),
        href=backup_link(r.get("safety_backup")),
        code=True,
    )
    s.fact("database", r.get("db_path"), code=True)
    s.fact("copy (s)", r.get("copy_seconds"))
    s.fact("forced while in use", r.get("forced"))
    s.fact("other writers waited (s)", r.get("lock_held_seconds"))
    s.fact("damaged file kept (unverified)", r.get("damaged_copy"), code=True)
    if r.get("message"):
        s.findings.append(Finding(None, r["message"]))
    for holder in r.get("holders") or []:
        s.findings.append(Finding(None, f"In use during the restore: {holder}."))
    counts = r.get("row_counts") or {}
    if counts and all(not isinstance(v, dict) for v in counts.values()):
        counts = {t: {"total": n} for t, n in counts.items()}
    add_tables(s, row_counts_table(counts, "Rows per table after the restore"))
    s.links.append(Link("All backups", reverse("migrations_ui:backups")))
    return s


def _checks(s, verification):
    for check in (verification or {}).get("checks") or []:
        s.findings.append(
            Finding(check.get("ok"), f"{check.get('name', '')}: {check.get('message', '')}")
        )


def _migrations_table(run, title="Migrations run"):
    rows = []
    for m in (run or {}).get("migrations") or []:
        counts = m.get("counts") or {}
        rows.append(
            [
                m.get("migration_id", ""),
                m.get("status", ""),
                counts.get("columns_added", 0),
                counts.get("indexes_created", 0),
                sum((m.get("rows_lost") or {}).values()),
                m.get("seconds"),
            ]
        )
    if not rows:
        return None
    return SummaryTable(
        "migrations-run",
        title,
        ["migration", "status", "columns added", "indexes created", "rows deleted", "seconds"],
        rows,
        numeric=[False, False, True, True, True, True],
    )


def migration(job):
    r = job.result or {}
    run = r.get("run") or {}
    applied = [
        m.get("migration_id") for m in run.get("migrations") or [] if m.get("status") == "applied"
    ]
    verdict = "verified" if r.get("ok") else "verification found problems"
    s = JobSummary(
        headline=(
            f"Applied {', '.join(applied)}; {verdict}."
            if applied
            else f"Nothing was pending; {verdict}."
        )
    )
    if r.get("backup"):
        _backup_facts(s, r["backup"], prefix="pre-migration ")
    s.fact("took (s)", run.get("seconds"))
    s.fact("tables that gained vault_id", len(run.get("columns_added") or []) or None)
    for f in (r.get("preflight") or {}).get("findings") or []:
        s.findings.append(
            Finding(f.get("ok"), f"pre-flight {f.get('name', '')}: {f.get('message', '')}")
        )
    _checks(s, r.get("verification"))
    add_tables(s, _migrations_table(run))
    s.links.append(Link("Migrations page", reverse("migrations_ui:migrations")))
    return s


def rehearsal(job):
    r = job.result or {}
    downtime = r.get("downtime") or {}
    s = JobSummary(
        headline=(
            f"Rehearsal on a scratch copy {'passed' if r.get('ok') else 'found problems'}: the "
            f"migrations took {r.get('migrate_seconds', '?')} s."
        )
    )
    s.fact("copy (s)", r.get("copy_seconds"))
    s.fact("migrate (s)", r.get("migrate_seconds"))
    s.fact("verify (s)", r.get("verify_seconds"))
    s.fact("downtime estimate", downtime.get("sentence"))
    s.fact("scratch copy deleted", r.get("scratch_deleted"))
    _checks(s, r.get("verification"))
    add_tables(s, _migrations_table(r.get("run"), "Migrations rehearsed"))
    s.links.append(Link("Migrations page", reverse("migrations_ui:migrations")))
    return s


def rollback(job):
    r = job.result or {}
    preview = r.get("preview") or {}
    lost = preview.get("rows_lost") or {}
    s = JobSummary(
        headline=f"Rolled back {preview.get('migration_id', 'the migration')}; "
        f"{preview.get('total_rows_lost', 0) or 0:,} rows deleted."
    )
    s.fact("migration", preview.get("migration_id"))
    s.fact("columns kept", preview.get("keeps_columns"))
    s.fact("note", preview.get("warning"))
    if lost:
        s.tables.append(
            SummaryTable(
                "rows-deleted", "Rows deleted", ["table", "rows"], [[t, n] for t, n in lost.items()]
            )
        )
    add_tables(s, _migrations_table(r.get("run"), "Rolled back"))
    s.links.append(Link("Migrations page", reverse("migrations_ui:migrations")))
    return s


def verification(job):
    r = job.result or {}
    checks = (r.get("verification") or {}).get("checks") or []
    failed = sum(1 for c in checks if not c.get("ok"))
    s = JobSummary(
        headline=(
            f"All {len(checks)} checks passed."
            if not failed
            else f"{failed} of {len(checks)} checks failed."
        )
    )
    s.fact("row counts compared with backup", r.get("against_backup"), code=True)
    _checks(s, r.get("verification"))
    s.links.append(Link("Migrations page", reverse("migrations_ui:migrations")))
    return s
