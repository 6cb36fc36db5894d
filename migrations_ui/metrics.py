"""The Backups side of /metrics: the newest verified backup's age and the backups by state,
read from the manifests the agent mirrored (the web process lists no backup folder)."""

from django.conf import settings

from metamorph_admin import backup_mirror, databases
from metamorph_admin.metrics import gauge


def collect(db_path):
    db = databases.for_path(db_path)
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
