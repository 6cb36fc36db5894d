"""Naming the backup that repairs a damaged Metamorph file, in every page's and command's
message (metamorph.errors.DamagedDatabase asks this when it is raised)."""
import os

from django.conf import settings

from metamorph.backup import latest_verified_backup
from metamorph.errors import MetamorphError


def newest_backup_name(db_path):
    """Name of the newest verified backup of `db_path` in METAMORPH_BACKUP_DIR, or None."""
    backup_dir = settings.METAMORPH_BACKUP_DIR
    if not os.path.isdir(backup_dir):
        return None
    try:
        found = latest_verified_backup(backup_dir, source_path=db_path)
    except MetamorphError:
        return None
    return os.path.basename(found[0]) if found else None
