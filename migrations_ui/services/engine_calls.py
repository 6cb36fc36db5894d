"""The job kinds' engine calls for backups, with the settings a web form must not choose (the
backup dir). The migration kinds' are in migration_calls, so that a backup's start (backupdb)
does not import the migration engine.

Commands may pass `backup_dir` (their --dir option); web jobs never do.
"""

from metamorph import backup
from metamorph.backup import hot_journal
from metamorph.backup.offsite import RetentionPolicy
from metamorph.backup.repository import RepositoryError
from metamorph_admin import databases
from migrations_ui.services import offsite


def backup_dir_of(backup_dir, db_path):
    """The backup directory given (a command's --dir), else the database's own."""
    return backup_dir or databases.for_path(db_path).backup_dir


def run_backup(
    db_path,
    progress,
    backup_dir=None,
    keep=None,
    keep_daily=None,
    keep_weekly=None,
    keep_monthly=None,
    **options,
):
    """The verified local copy; then, with a repository, stored there (the local copy stays
    whatever the repository answers) and only then the local --keep retention."""
    backup_dir = backup_dir_of(backup_dir, db_path)
    repo = offsite.repository()
    if repo is None:
        return backup.run_backup(db_path, backup_dir, progress=progress, keep=keep, **options)
    manifest = backup.run_backup(db_path, backup_dir, progress=progress, **options)
    policy = RetentionPolicy(daily=keep_daily, weekly=keep_weekly, monthly=keep_monthly)
    try:
        manifest["repository"] = offsite.store(
            repo, databases.for_path(db_path).name, manifest, policy, progress
        )
    except RepositoryError as exc:
        raise RepositoryError(
            f"{exc} The verified local copy {manifest['name']} was written and kept."
        ) from None
    if keep:
        manifest["deleted"] = backup.apply_retention(backup_dir, keep, protect=manifest["name"])
    return manifest


def check_backups(db_path, progress):
    return offsite.check_all(
        offsite.configured_repository(), progress, backup_dir_of(None, db_path)
    )


def verify_backup(db_path, progress, name, backup_dir=None):
    return backup.verify_backup(backup_dir_of(backup_dir, db_path), name, progress=progress)


def restore_backup(db_path, progress, name, backup_dir=None, force=False, archive=None):
    """`archive`: first bring that archive of the repository back as the local backup `name`
    (its sha256 checked against its manifest), then the same restore as for a local copy."""
    backup_dir = backup_dir_of(backup_dir, db_path)
    if archive:
        backup.refuse_if_in_use(db_path, force=force)
        progress("fetch", 0, 1, f"fetching {archive} from the repository")
        name = offsite.fetch_to_local(
            offsite.configured_repository(), databases.for_path(db_path).name, archive, backup_dir
        )
    return backup.restore_backup(db_path, backup_dir, name, progress=progress, force=force)


def roll_back_interrupted_write(db_path, progress, backup_dir=None):
    return hot_journal.roll_back_interrupted_write(
        db_path, backup_dir_of(backup_dir, db_path), progress=progress
    )
