"""The integrity-check job: the full check of the configured file (metamorph.backup.integrity),
with a snapshot copy kept beside the backups, where the file's secrets already live."""

from metamorph.backup.integrity import full_integrity_check
from metamorph_admin import databases


def check_integrity(db_path, progress):
    """Full `PRAGMA integrity_check` (of a snapshot copy in rollback-journal mode, so
    Metamorph's commits wait only for the copy)."""
    return full_integrity_check(db_path, databases.for_path(db_path).backup_dir, progress)
