"""The off-host repository beside the local backups: store after a backup, retention, the
scheduled check, and fetching an archive back for the usual restore.

Writes what the repository's index says into RepositoryArchive / RepositoryState, which the
Backups page, /metrics and the backup-age alarm read.
"""

import os
import tempfile
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from metamorph.backup import offsite
from metamorph.backup.repository import Repository, RepositoryError
from metamorph_admin.models import RepositoryArchive, RepositoryState


def repository():
    """The configured Repository, or None when METAMORPH_BACKUP_REPOSITORY is empty."""
    if not settings.METAMORPH_BACKUP_REPOSITORY:
        return None
    return Repository(
        settings.METAMORPH_BACKUP_REPOSITORY,
        settings.METAMORPH_BACKUP_PASSWORD_FILE,
        rsh=settings.METAMORPH_BACKUP_RSH,
    )


NOT_CONFIGURED = (
    "No backup repository is configured: set METAMORPH_BACKUP_REPOSITORY and "
    "METAMORPH_BACKUP_PASSWORD_FILE (docs/backups-offsite.md)."
)


def configured_repository():
    """The Repository, or a RepositoryError saying how to configure one."""
    repo = repository()
    if repo is None:
        raise RepositoryError(NOT_CONFIGURED)
    return repo


def store(repo, database, manifest, policy, progress):
    """Store a verified local backup, apply `policy` (none given: the one remembered from the
    last backupdb that named one), refresh the index; the result's part."""
    if not policy.args():
        state = RepositoryState.objects.filter(database=database).first()
        policy = offsite.RetentionPolicy(**(state.policy if state else {}))
    stored = offsite.store_backup(repo, database, manifest["path"], manifest, progress)
    dropped = offsite.retention(repo, database, policy, dry_run=False)
    # borg create gave the repository's size; a prune (and its compact) since changes it
    size = None if dropped else stored["repository_bytes"]
    refresh(repo, database, policy, added={stored["archive"]: stored["added_bytes"]}, size=size)
    return dict(stored, dropped=dropped)


def refresh(repo, database, policy=None, added=None, size=None):
    """Store the repository's index of `database`, with what the next run's policy drops;
    `size`: the repository's bytes when already known (else borg info reads them)."""
    state = RepositoryState.objects.filter(database=database).first()
    if policy is None:
        policy = offsite.RetentionPolicy(**(state.policy if state else {}))
    snapshots = offsite.list_snapshots(repo, database)
    next_at = offsite.expected_next_run(snapshots, timezone.now())
    next_drops = set(offsite.next_run_drops(snapshots, policy, next_at))
    if size is None:
        size = offsite.repository_size(repo)
    with transaction.atomic():
        archives_of = RepositoryArchive.objects.filter(database=database)
        archives_of.exclude(archive__in=[s.archive for s in snapshots]).delete()
        for s in snapshots:
            row, _ = RepositoryArchive.objects.update_or_create(
                archive=s.archive,
                defaults=dict(
                    database=database,
                    archive_id=s.id,
                    backup_name=s.backup_name,
                    created_at=datetime.fromisoformat(s.created_at),
                    sha256=s.sha256,
                    label=s.label,
                    dropped_next=s.archive in next_drops,
                ),
            )
            if added and s.archive in added:
                row.added_bytes = added[s.archive]
                row.save(update_fields=["added_bytes"])
        RepositoryState.objects.update_or_create(
            database=database,
            defaults=dict(
                repository=repo.url,
                policy=vars(policy),
                size_bytes=size,
                refreshed_at=timezone.now(),
            ),
        )
    return snapshots


def check_all(repo, progress, work_dir):
    """borg's check, then the newest archive of each database restored and checked in a
    temporary folder under `work_dir` (private, and sized for a database copy; not /tmp)."""
    progress("check", 0, 1, "borg check (a slice of the segments, and every archive)")
    problem = ""
    try:
        offsite.check_repository(repo)
    except RepositoryError as exc:
        problem = str(exc)
    newest = {}
    for s in offsite.list_snapshots(repo):
        newest.setdefault(s.database, s)
    results = []
    for i, (database, snapshot) in enumerate(sorted(newest.items())):
        progress("restore", i, len(newest), f"restoring {snapshot.archive} to a temporary file")
        os.makedirs(work_dir, mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as work:
            results.append(offsite.check_snapshot(repo, snapshot, work))
        refresh(repo, database)
    _record(repo, results, problem)
    failed = sum(not r["restorable"] for r in results) + bool(problem)
    progress("done", 1, 1, f"{len(results)} archive(s) restored and checked, {failed} problem(s)")
    return {
        "repository_ok": not problem,
        "repository_message": problem or "borg check passed",
        "archives": results,
        "ok": not problem and all(r["restorable"] for r in results),
    }


def _record(repo, results, problem):
    now = timezone.now()
    with transaction.atomic():
        for r in results:
            RepositoryArchive.objects.filter(archive=r["snapshot"]["archive"]).update(
                check_state="restorable" if r["restorable"] else "failed",
                check_message=r["message"],
                checked_at=datetime.fromisoformat(r["checked_at"]),
            )
        databases_seen = {r["snapshot"]["database"] for r in results}
        for database in databases_seen | set(
            RepositoryState.objects.values_list("database", flat=True)
        ):
            RepositoryState.objects.update_or_create(
                database=database,
                defaults=dict(
                    repository=repo.url,
                    checked_at=now,
                    check_ok=not problem
                    and all(
                        r["restorable"] for r in results if r["snapshot"]["database"] == database
                    ),
                    check_message=problem
                    or "; ".join(
                        r["message"] for r in results if r["snapshot"]["database"] == database
                    ),
                ),
            )


def fetch_to_local(repo, database, archive, backup_dir):
    """The archive named `archive` of `database`, brought back as a verified local backup."""
    names = lambda s: (s.archive, s.id, s.id[:8], s.backup_name)  # noqa: E731
    snapshot = next(
        (s for s in offsite.list_snapshots(repo, database) if archive in names(s)), None
    )
    if snapshot is None:
        raise RepositoryError(
            f"The repository has no archive {archive!r} of database {database}: "
            "`python manage.py checkbackups --list` shows them."
        )
    return offsite.place_locally(repo, snapshot, backup_dir)
