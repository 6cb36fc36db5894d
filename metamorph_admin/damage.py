"""Naming the backup that repairs a damaged Metamorph file, in every page's and command's
message (metamorph.errors.DamagedDatabase asks this when it is raised)."""

import os

from metamorph import backup  # its listing loads when a damaged file is reported
from metamorph.errors import MetamorphError
from metamorph_admin import databases


def newest_backup_name(db_path):
    """Name of the newest verified backup of `db_path` in its backup directory, or None."""
    backup_dir = databases.for_path(db_path).backup_dir
    if not os.path.isdir(backup_dir):
        return None
    try:
        found = backup.latest_verified_backup(backup_dir, source_path=db_path)
    except MetamorphError:
        return None
    return os.path.basename(found[0]) if found else None
