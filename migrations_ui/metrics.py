"""The Backups side of /metrics: the newest verified backup's age and the backups by state,
read from the manifests the agent mirrored (the web process lists no backup folder)."""

from django.conf import settings
from django.utils import timezone

from metamorph_admin import backup_mirror, databases, repository_index
from metamorph_admin.metrics import gauge


def collect(db_path):
    db = databases.for_path(db_path)
    yield from collect_repository(db.name)
    newest = backup_mirror.newest_verified(db)
    if newest is not None:
        yield gauge(
            "metamorph_backup_last_verified_age_seconds",
            "Age of the newest verified backup of this file",
            [],
            [((), newest["age_seconds"])],
        )
        yield gauge(
            "metamorph_backup_last_verified_size_bytes",
            "Size of the newest verified backup of this file",
            [],
            [((), newest["size_bytes"])],
        )
    yield gauge(
        "metamorph_backup_verified_present",
        "1 when a verified backup of this file exists",
        [],
        [((), int(newest is not None))],
    )
    states = {}
    for entry in backup_mirror.entries(db):
        states[entry["state"]] = states.get(entry["state"], 0) + 1
    yield gauge(
        "metamorph_backups",
        "Backups in the backup directory by state",
        ["state"],
        (((s,), states.get(s, 0)) for s in ("verified", "changed", "corrupt", "unverified")),
    )
    yield gauge(
        "metamorph_backup_max_age_seconds",
        "Age above which the Vaults page warns (BACKUP_MAX_AGE_HOURS; 0 = no warning)",
        [],
        [((), settings.BACKUP_MAX_AGE_HOURS * 3600)],
    )


def collect_repository(database):
    """The repository's side, from the stored index and the last check (no borg run)."""
    if not repository_index.configured():
        return
    state = repository_index.state_of(database)
    archives = repository_index.archives_of(database)
    by_check = {s: 0 for s in ("restorable", "failed", "")}
    for a in archives:
        by_check[a.check_state] = by_check.get(a.check_state, 0) + 1
    yield gauge(
        "metamorph_backup_repository_archives",
        "Archives of this database in the backup repository, by the last check's verdict",
        ["check"],
        (((s or "unchecked",), n) for s, n in by_check.items()),
    )
    if state is not None and state.size_bytes is not None:
        yield gauge(
            "metamorph_backup_repository_size_bytes",
            "Bytes the backup repository holds (deduplicated, compressed)",
            [],
            [((), state.size_bytes)],
        )
    if state is not None and state.checked_at is not None:
        yield gauge(
            "metamorph_backup_repository_check_ok",
            "1 when the last checkbackups passed (borg check and the restore of the newest)",
            [],
            [((), int(bool(state.check_ok)))],
        )
        yield gauge(
            "metamorph_backup_repository_check_age_seconds",
            "Age of the last checkbackups run",
            [],
            [((), round((timezone.now() - state.checked_at).total_seconds()))],
        )
    newest = repository_index.newest_restorable(database)
    if newest is not None:
        yield gauge(
            "metamorph_backup_last_restorable_archive_age_seconds",
            "Age of the newest archive a check restored (sha256 and quick_check)",
            [],
            [((), round(newest.age_seconds))],
        )
