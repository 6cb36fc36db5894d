"""The job kinds' engine calls, with the settings a web form must not choose (backup dir).

Commands may pass `backup_dir` (their --dir option); web jobs never do.
"""

from metamorph import backup
from metamorph.backup import hot_journal
from metamorph.migrate import procedures as operations
from metamorph_admin import databases


def _dir(backup_dir, db_path):
    """The backup directory given (a command's --dir), else the database's own."""
    return backup_dir or databases.for_path(db_path).backup_dir


def migrate(db_path, progress, backup_dir=None, **options):
    return operations.migrate(db_path, _dir(backup_dir, db_path), progress=progress, **options)


def rehearse(db_path, progress, backup_dir=None):
    return operations.rehearse(db_path, _dir(backup_dir, db_path), progress=progress)


def rollback(db_path, progress, backup_dir=None, **options):
    return operations.rollback(db_path, _dir(backup_dir, db_path), progress=progress, **options)


def verify(db_path, progress, backup_dir=None):
    progress("verify", 0, 1, "verifying schema, indexes and row counts")
    return operations.verify(db_path, _dir(backup_dir, db_path))


def run_backup(db_path, progress, backup_dir=None, **options):
    return backup.run_backup(db_path, _dir(backup_dir, db_path), progress=progress, **options)


def verify_backup(db_path, progress, name, backup_dir=None):
    return backup.verify_backup(_dir(backup_dir, db_path), name, progress=progress)


def restore_backup(db_path, progress, name, backup_dir=None, force=False):
    return backup.restore_backup(
        db_path, _dir(backup_dir, db_path), name, progress=progress, force=force
    )


def roll_back_interrupted_write(db_path, progress, backup_dir=None):
    return hot_journal.roll_back_interrupted_write(
        db_path, _dir(backup_dir, db_path), progress=progress
    )
