"""Verified online backups of the Metamorph database: create, list, verify, prune, restore.

Plain Python (no Django): `backupdb`, the background task and the Backups page call
these functions with a `progress(phase, done, total, message)` callable.

A backup is `metamorph-backup-YYYYMMDD-HHMMSS.db` (UTC; `.db.gz` when compressed) plus its
manifest `<name>.json`. It is listed as verified only when both exist, the manifest was
written by us and names the file, and the file's size and mtime are those recorded.
"""

# Each name is imported on first use (PEP 562): settings and every command import the light
# submodules (repository, files, manifest); the copy and restore machinery loads for a backup.
from typing import TYPE_CHECKING

from metamorph import lazy

if TYPE_CHECKING:
    from .create import run_backup
    from .listing import apply_retention, latest_verified_backup, list_backups, newest_verified
    from .manifest import manifest_row_counts
    from .restore import refuse_if_in_use, restore_backup
    from .verify import verify_backup

_WHERE = {
    "run_backup": ".create",
    "list_backups": ".listing",
    "newest_verified": ".listing",
    "verify_backup": ".verify",
    "restore_backup": ".restore",
    "refuse_if_in_use": ".restore",
    "apply_retention": ".listing",
    "latest_verified_backup": ".listing",
    "manifest_row_counts": ".manifest",
}

__all__ = [
    "apply_retention",
    "latest_verified_backup",
    "list_backups",
    "manifest_row_counts",
    "newest_verified",
    "refuse_if_in_use",
    "restore_backup",
    "run_backup",
    "verify_backup",
]


__getattr__ = lazy.exports(__name__, _WHERE, globals())
