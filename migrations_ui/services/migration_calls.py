"""The migration kinds' engine calls, with the backup dir a web form must not choose.

Commands may pass `backup_dir` (their --dir option); web jobs never do.
"""

from metamorph.migrate import procedures as operations
from migrations_ui.services.engine_calls import backup_dir_of


def migrate(db_path, progress, backup_dir=None, **options):
    return operations.migrate(
        db_path, backup_dir_of(backup_dir, db_path), progress=progress, **options
    )


def rehearse(db_path, progress, backup_dir=None):
    return operations.rehearse(db_path, backup_dir_of(backup_dir, db_path), progress=progress)


def rollback(db_path, progress, backup_dir=None, **options):
    return operations.rollback(
        db_path, backup_dir_of(backup_dir, db_path), progress=progress, **options
    )


def verify(db_path, progress, backup_dir=None):
    progress("verify", 0, 1, "verifying schema, indexes and row counts")
    return operations.verify(db_path, backup_dir_of(backup_dir, db_path))
