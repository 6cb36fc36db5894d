"""Gatherers of the operations' evidence: backups and their manifests, rehearsals, migration
and verification jobs."""

from django.urls import reverse

from metamorph.migrate import runner
from metamorph.units import human_size
from metamorph_admin import backup_mirror, databases
from metamorph_admin.models import Job
from rollouts.evidence import Outcome


def _hours(seconds):
    return round(seconds / 3600, 1)


def _verified(t):
    """The database's verified backups, from the manifests its agent mirrored."""
    return [
        e
        for e in backup_mirror.entries(databases.get(t.name))
        if e["state"] == "verified" and e["source_path"] == t.path
    ]


def _newest_verified(t):
    return next(iter(_verified(t)), None)


def _backup_numbers(found, **extra):
    return {
        "backup": found["name"],
        **extra,
        "size": human_size(found["size_bytes"]),
        "rows": found["total_rows"],
        "sha256": found["sha256"] or "",
    }


def _backup_evidence(t, found):
    evidence = [
        {"label": f"backup {found['name']}", "url": t.page("migrations_ui:backups")},
        {"label": "manifest", "text": found["path"] + ".json"},
    ]
    job = (
        Job.objects.for_file(t.path).of_kinds(["backup"]).filter(result__name=found["name"]).first()
    )
    if job is not None:
        evidence.append(
            {
                "label": f"backup job #{job.pk} by {job.actor}",
                "url": reverse("core:job", args=[job.pk]),
            }
        )
    return evidence


def backup_before_migrating(t):
    """The guide's "back up before migrating": a recent verified backup while nothing is
    applied; once the file is migrated, one taken before the migration (a backup taken after
    it holds the migrated schema and cannot give the old file back)."""
    applied = [m for m in runner.status(t.path) if m["applied"]]
    if applied:
        return _backup_before_migration(t, applied)
    return recent_backup(t)


def recent_backup(t):
    """A verified backup of the file, newer than the rollout's maximum age."""
    found = _newest_verified(t)
    limit = t.rollout.backup_max_age_hours
    if found is None:
        return Outcome(
            "fail",
            f"No verified backup of {t.path} in {t.backup_dir}. Take one on "
            "the Backups page or with `backupdb --database "
            f"{t.name}`.",
            {"max age (h)": limit},
            [{"label": "Backups page", "url": t.page("migrations_ui:backups")}],
        )
    age = _hours(found["age_seconds"])
    numbers = _backup_numbers(found, **{"age (h)": age, "max age (h)": limit})
    evidence = _backup_evidence(t, found)
    if age > limit:
        return Outcome(
            "fail",
            f"The newest verified backup is {age} h old, more than {limit:g} h. Take a new one.",
            numbers,
            evidence,
        )
    return Outcome("pass", f"Verified backup {found['name']}, {age} h old.", numbers, evidence)


def _backup_before_migration(t, applied):
    ids = [m["id"] for m in applied]
    first = min(m["applied_at"] or "" for m in applied)
    migrated = f"Production is already migrated ({', '.join(ids)} applied, the first at {first})"
    before = next((e for e in _verified(t) if not set(ids) <= set(e["applied_migrations"])), None)
    if before is None:
        return Outcome(
            "fail",
            f"{migrated}, and no verified backup in {t.backup_dir} was taken before the "
            "migration: each one holds the migrated schema, so none gives back the file as it "
            "was. A backup taken now cannot either. If a pre-migration backup exists elsewhere, "
            "put it (with its manifest) in that folder; otherwise say so in the review.",
            {"applied": ", ".join(ids), "first applied at": first},
            [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}],
        )
    numbers = _backup_numbers(before, **{"taken at": before["created_at"][:19]})
    return Outcome(
        "pass",
        f"{migrated}; verified backup {before['name']} was taken before the migration "
        f"(it holds {', '.join(before['applied_migrations']) or 'no migration'}), so the "
        "file as it was can be restored.",
        numbers,
        _backup_evidence(t, before),
    )


def row_counts(t):
    found = _newest_verified(t)
    if found is None or found["total_rows"] is None:
        return Outcome(
            "fail",
            "No verified backup manifest with row counts: take a backup "
            "(its manifest records every table's rows).",
        )
    numbers = {
        "total rows": found["total_rows"],
        **{f"{table} rows": n for table, n in sorted(found["row_totals"].items())},
    }
    return Outcome(
        "pass",
        f"{found['total_rows']:,} rows in {len(found['row_totals'])} tables "
        f"recorded in the manifest of {found['name']}.",
        numbers,
        [
            {"label": "manifest", "text": found["path"] + ".json"},
            {"label": "Backups page", "url": t.page("migrations_ui:backups")},
        ],
    )


def rehearsal(t):
    job = (
        Job.objects.for_file(t.path)
        .of_kinds(["rehearsal"])
        .succeeded()
        .order_by("-finished_at", "-id")
        .first()
    )
    planned = t.rollout.planned_downtime_minutes * 60
    if job is None:
        return Outcome(
            "fail",
            "No successful rehearsal of this database: rehearse on the "
            "Migrations page or with `runmigration --rehearse --database "
            f"{t.name}`.",
            {"planned downtime (s)": planned},
            [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}],
        )
    result = job.result or {}
    measured = round((result.get("migrate_seconds") or 0) + (result.get("verify_seconds") or 0), 2)
    numbers = {
        "measured downtime (s)": measured,
        "planned downtime (s)": planned,
        "copy (s)": result.get("copy_seconds"),
        "rehearsed at": f"{job.finished_at:%Y-%m-%d %H:%M}",
    }
    evidence = [{"label": f"rehearsal job #{job.pk}", "url": reverse("core:job", args=[job.pk])}]
    if not result.get("ok"):
        return Outcome("fail", "The rehearsal ran but its verification failed.", numbers, evidence)
    if measured > planned:
        return Outcome(
            "fail",
            f"The rehearsed migration took {measured} s, more than the "
            f"planned {planned:g} s of downtime.",
            numbers,
            evidence,
        )
    return Outcome(
        "pass",
        f"Rehearsal passed: {measured} s of migration and verification "
        f"against {planned:g} s planned.",
        numbers,
        evidence,
    )


def _verification_job(path, since):
    for job in (
        Job.objects.for_file(path)
        .of_kinds(["migration", "verification"])
        .succeeded()
        .order_by("-finished_at", "-id")
    ):
        if since and job.finished_at.isoformat() < since:
            return None
        verification = (job.result or {}).get("verification")
        if verification is not None:
            return job, verification
    return None


def migration_verified(t):
    status = runner.status(t.path)
    pending = [m["id"] for m in status if m["pending"]]
    numbers = {m["id"]: (m["applied_at"] or "pending") for m in status}
    if pending:
        return Outcome(
            "fail",
            f"Not applied yet: {', '.join(pending)}.",
            numbers,
            [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}],
        )
    last_applied = max(m["applied_at"] or "" for m in status)
    found = _verification_job(t.path, last_applied[:19])
    if found is None:
        return Outcome(
            "fail",
            "Applied, but no verification since: run `runmigration --verify "
            f"--database {t.name}` or Verify on the Migrations page.",
            numbers,
            [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}],
        )
    job, verification = found
    failed = [c["name"] for c in verification["checks"] if not c["ok"]]
    numbers["verification checks"] = (
        f"{len(verification['checks']) - len(failed)} of {len(verification['checks'])} ok"
    )
    evidence = [{"label": f"{job.kind} job #{job.pk}", "url": reverse("core:job", args=[job.pk])}]
    if failed:
        return Outcome("fail", f"The verification failed: {', '.join(failed)}.", numbers, evidence)
    return Outcome(
        "pass", f"All migrations applied; job #{job.pk} verified them.", numbers, evidence
    )
