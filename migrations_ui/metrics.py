"""The Backups side of /metrics: the newest verified backup's age and the backups by state,
read from the manifests (no backup file is opened)."""

from django.conf import settings

from metamorph.backup import list_backups, newest_verified
from metamorph_admin import databases
from metamorph_admin.metrics import gauge


def collect(db_path):
    backup_dir = databases.for_path(db_path).backup_dir
    newest = newest_verified(backup_dir, source_path=db_path)
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
    for entry in list_backups(backup_dir):
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
