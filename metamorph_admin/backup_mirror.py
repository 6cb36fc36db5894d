"""The backups of each database as its agent last listed them: the manifests are mirrored
into the dashboard's database (at agent start, after each job, and whenever the backup
directory changes), so the Backups page, /metrics and the rollout evidence open no file."""

import logging
import os
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from metamorph.backup import list_backups
from metamorph.errors import MetamorphError
from metamorph_admin import agents, databases
from metamorph_admin.models import BackupRecord

logger = logging.getLogger(__name__)
_STAMPS: dict[str, tuple] = {}


def mirror(db: databases.Database) -> int:
    """List the backup directory (on the agent's host) and store what it holds; the records
    of backups gone from it are deleted. Returns how many are listed."""
    entries = list_backups(db.backup_dir)
    now = timezone.now()
    with transaction.atomic():
        BackupRecord.objects.filter(database=db.name).exclude(
            name__in=[e["name"] for e in entries]
        ).delete()
        for e in entries:
            BackupRecord.objects.update_or_create(
                database=db.name,
                name=e["name"],
                defaults={
                    "created_at": datetime.fromisoformat(e["created_at"]),
                    "state": e["state"],
                    "entry": e,
                    "mirrored_at": now,
                },
            )
    return len(entries)


def mirror_if_changed(db: databases.Database) -> None:
    """Mirror again when the directory changed since this process last did (a backup, a
    manifest rewritten by a verification, a deletion: each changes its mtime)."""
    try:
        stamp: tuple = (os.stat(db.backup_dir).st_mtime_ns,)
    except OSError:
        stamp = ()
    if _STAMPS.get(db.name) != stamp:
        mirror(db)
        _STAMPS[db.name] = stamp


def mirror_soon(db: databases.Database) -> None:
    """mirror_if_changed, where a failure only delays the mirror (the next heartbeat retries):
    a job's result or a heartbeat is never lost for it."""
    try:
        mirror_if_changed(db)
    except (DatabaseError, OSError, MetamorphError):
        _STAMPS.pop(db.name, None)
        logger.warning("Backups of %s not mirrored now: the next heartbeat retries", db.name)


def entries(db: databases.Database) -> list[dict]:
    """The database's backups, newest first, as list_backups gives them, ages counted now.
    In-process (no agents) this process is the agent and lists the directory itself."""
    if not agents.required():
        mirror(db)
    now = timezone.now()
    return [
        dict(r.entry, age_seconds=max(0, round((now - r.created_at).total_seconds())))
        for r in BackupRecord.objects.filter(database=db.name)
    ]


def mirrored_at(db: databases.Database):
    """When the agent last listed the directory (None: never)."""
    row = BackupRecord.objects.filter(database=db.name).order_by("-mirrored_at").first()
    return row.mirrored_at if row else None


def newest_verified(db: databases.Database) -> dict | None:
    """The newest verified backup of the database's own file, or None."""
    wanted = {os.path.abspath(db.path), os.path.realpath(db.path)}
    return next(
        (e for e in entries(db) if e["state"] == "verified" and e["source_path"] in wanted),
        None,
    )
