"""Verified online backups of the Metamorph database: create, list, verify, prune, restore.

Plain Python (no Django): `backupdb`, the background task and the Backups page call
these functions with a `progress(phase, done, total, message)` callable.

A backup is `metamorph-backup-YYYYMMDD-HHMMSS.db` (UTC; `.db.gz` when compressed) plus its
manifest `<name>.json`. It is listed as verified only when both exist, the manifest was
written by us and names the file, and the file's size and mtime are those recorded.
"""

from .create import run_backup
from .listing import apply_retention, latest_verified_backup, list_backups, newest_verified
from .manifest import manifest_row_counts
from .restore import refuse_if_in_use, restore_backup
from .verify import verify_backup

__all__ = [
    "run_backup",
    "list_backups",
    "newest_verified",
    "verify_backup",
    "restore_backup",
    "refuse_if_in_use",
    "apply_retention",
    "latest_verified_backup",
    "manifest_row_counts",
]
