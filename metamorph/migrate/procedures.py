"""Whole operations as operators start them: backup check, migration, verification.

`runmigration`, the Migrations page and its background task all call these, so the
pre-flight, the backup and the verification are never skipped by one door.
"""

import os
from datetime import datetime

from metamorph.errors import MetamorphError

from .. import backup
from ..backup.files import prepare_dir
from . import rehearsal, runner
from .preflight import QuickCheckBeside, memory_for_overlap, preflight
from .verify import verify_migration


class RollbackNeedsBackup(MetamorphError):
    def __init__(self, migration_id, rows):
        super().__init__(
            f"Rolling back {migration_id} deletes {rows} rows (OAuth connections and sandbox "
            "records included) and needs a verified backup of this database taken after the "
            "migration was applied and in the last hour. Take one first (`python manage.py "
            "backupdb`, or --backup), then roll back."
        )


def _silent(phase, done, total, message=""):
    pass


def backup_finder(db_path, backup_dir, max_age_hours=None):
    """A callable giving (path, created_at, manifest) of the newest verified backup *of this
    file* (the backup directory may hold other databases' backups), or None."""
    return lambda: backup.latest_verified_backup(backup_dir, max_age_hours, source_path=db_path)


def _backup_summary(manifest):
    return {
        key: manifest.get(key)
        for key in (
            "name",
            "created_at",
            "sha256",
            "total_rows",
            "copy_seconds",
            "verify_seconds",
            # how long Metamorph's commits could have had to wait for the copy
            "longest_read_lock_seconds",
        )
    }


def migrate(
    db_path,
    backup_dir,
    migration_id=None,
    take_backup=False,
    force=False,
    max_backup_age_hours=24,
    progress=None,
    backup_verify="quick",
):
    """Pre-flight (after a fresh backup when asked), run, then verify against the backup.

    The backup taken first is checked with quick_check (`backup_verify="full"`: the whole
    integrity_check, ~8x longer); a restore runs the full integrity_check before anything.
    """
    report = progress or _silent
    taken = None
    if take_backup:
        taken = backup.run_backup(
            db_path, backup_dir, label="pre-migration", progress=report, verify=backup_verify
        )
    report("preflight", 0, 1, "pre-flight checks")
    checks = preflight(
        db_path,
        backup_finder(db_path, backup_dir),
        max_backup_age_hours=max_backup_age_hours,
        force=force,
        quick_check=False,
    )
    # The whole-file quick_check runs once, on the file as the migration finds it: beside the
    # migration's first statements on the other core when the indexes it builds fit in memory
    # meanwhile, else before it. The migration commits only after the check passed.
    beside = QuickCheckBeside(checks)
    if not checks.pending or checks.index_bytes > memory_for_overlap():
        beside.start()
        beside.finish()
        result = runner.run_migrations(db_path, migration_id, progress=report)
    else:
        result = runner.run_migrations(db_path, migration_id, progress=report, beside=beside)
    report("verify", 0, 1, "verifying the result")
    verification = verify_migration(
        db_path,
        checks.before_counts,
        result.columns_added,
        run=result,
        before_source=_backup_source(checks.backup_path),
        file_checked=True,
    )
    report("verify", 1, 1, "verified" if verification.ok else "verification found problems")
    return {
        "ok": verification.ok,
        "preflight": checks.to_dict(),
        "backup": _backup_summary(taken) if taken else None,
        "run": result.to_dict(),
        "verification": verification.to_dict(),
        "text": result.text + "\n\n" + verification.text,
    }


def rehearse(db_path, backup_dir, progress=None):
    """Migrate a scratch copy (kept beside the backups: it holds the same secrets)."""
    prepare_dir(backup_dir)
    return rehearsal.rehearse(db_path, backup_dir, progress=progress)


def rollback(db_path, backup_dir, migration_id=None, take_backup=False, progress=None):
    """Roll back one migration; one that deletes rows needs a verified backup < 1 h old."""
    report = progress or _silent
    preview = runner.rollback_preview(db_path, migration_id)
    if preview["requires_fresh_backup"]:
        if take_backup:
            backup.run_backup(db_path, backup_dir, label="pre-rollback", progress=report)
        if not _backup_since_applied(db_path, backup_dir, preview["migration_id"]):
            raise RollbackNeedsBackup(preview["migration_id"], preview["total_rows_lost"])
    result = runner.rollback(db_path, preview["migration_id"], progress=report)
    return {
        "ok": True,
        "preview": {
            k: preview[k]
            for k in ("migration_id", "warning", "keeps_columns", "rows_lost", "total_rows_lost")
        },
        "run": result.to_dict(),
        "text": result.text,
    }


def _backup_since_applied(db_path, backup_dir, migration_id):
    """A verified backup < 1 h old that holds what the rollback deletes (taken after `up`)."""
    found = backup_finder(db_path, backup_dir, max_age_hours=1)()
    applied = {row["id"]: row["applied_at"] for row in runner.status(db_path)}
    if not found or not applied.get(migration_id):
        return None
    applied_at = datetime.fromisoformat(applied[migration_id].replace("Z", "+00:00"))
    return found if found[1] >= applied_at else None


def _backup_source(path):
    return f"backup {os.path.basename(path)}" if path else "the pre-migration counts"


def verify(db_path, backup_dir):
    """Verification on its own, against the newest verified backup's row counts."""
    found = backup_finder(db_path, backup_dir)()
    before = found[2].get("row_counts") if found else None
    result = verify_migration(
        db_path, before, before_source=_backup_source(found[0] if found else None)
    )
    return {
        "ok": result.ok,
        "against_backup": found[0] if found else None,
        "verification": result.to_dict(),
        "text": result.text,
    }
