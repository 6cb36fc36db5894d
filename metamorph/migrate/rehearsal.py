"""Rehearsal ("test in staging") on a scratch copy, and the downtime estimate.

The live file is only ever opened read-only: an online backup (in steps, so Metamorph
keeps writing) copies it to a scratch file, the migrations run and are verified there,
and the copy is deleted whatever happens.
"""

import os
import shutil
import tempfile
import time

from metamorph import inspect
from metamorph.errors import DamagedDatabase, DiskFull, MetamorphError
from metamorph.units import human_size

from ..backup.copy import make_single_file, online_copy
from .db import count_rows, open_for_reading
from .errors import RehearsalFailed
from .runner import run_migrations
from .verify import verify_migration

MB, GB = 1000**2, 1000**3
# Metamorph's guide, "Estimated Downtime": (upper size bound, size label, estimate, seconds).
GUIDE_DOWNTIME = (
    (100 * MB, "< 100MB", "< 1 minute", (0, 60)),
    (1 * GB, "100MB - 1GB", "1-5 minutes", (60, 300)),
    (10 * GB, "1GB - 10GB", "5-30 minutes", (300, 1800)),
    (None, "> 10GB", "Plan for extended maintenance", (1800, None)),
)
# Measured on a 2-core machine (SQLite 3.40.1): Metamorph's migrator did 001+002 on a 984 MB legacy
# database in ~1.6 s. Index builds dominate and scale with rows, so with bytes, roughly.
MODEL_SECONDS_PER_GB = 1.6 / 0.984
# The live disk may be cold and busy where the rehearsal's copy was warm: plan for double.
SAFETY_FACTOR = 2.0


def estimate_downtime(db_size_bytes, rehearsal_seconds=None):
    """The guide's estimate for this size beside ours (measured when a rehearsal ran)."""
    limit, label, guide_text, guide_seconds = next(
        row for row in GUIDE_DOWNTIME if row[0] is None or db_size_bytes < row[0]
    )
    model = db_size_bytes / GB * MODEL_SECONDS_PER_GB
    basis = "rehearsal" if rehearsal_seconds is not None else "model"
    predicted = max(
        1.0, round((rehearsal_seconds if basis == "rehearsal" else model) * SAFETY_FACTOR, 1)
    )
    size = human_size(db_size_bytes)
    if basis == "rehearsal":
        ours = (
            f"The rehearsal on a copy of this very database migrated and verified it in "
            f"{rehearsal_seconds:.2f} s, so plan for about {predicted:g} s"
        )
    else:
        ours = (
            f"Measured on a similar database, the migration takes about "
            f"{MODEL_SECONDS_PER_GB:.1f} s per GB, so expect about {predicted:g} s; "
            "rehearse on a copy of this database for a measured figure"
        )
    sentence = (
        f"Metamorph's guide estimates {guide_text} for a database of {label} (this one "
        f"is {size}). {ours}, plus the time to stop and restart the service."
    )
    return {
        "size_bytes": db_size_bytes,
        "guide_bucket": label,
        "guide_estimate": guide_text,
        "guide_seconds": list(guide_seconds),
        "model_seconds": round(model, 2),
        "measured_seconds": rehearsal_seconds,
        "predicted_seconds": predicted,
        "basis": basis,
        "sentence": sentence,
    }


def rehearse(db_path, scratch_dir, progress=None):
    """Copy, migrate and verify a scratch copy; report durations; delete the copy."""
    size = os.path.getsize(db_path)
    _check_scratch_space(db_path, scratch_dir, size)
    fd, scratch = tempfile.mkstemp(prefix="rehearsal-", suffix=".db", dir=scratch_dir)
    os.close(fd)
    timings = {}
    phase = "copying the live database"
    try:
        started = time.monotonic()
        copy_online(db_path, scratch, progress)
        timings["copy_seconds"] = _since(started)
        before = _counts_of_intact_copy(db_path, scratch)
        phase, started = "running the migrations on the copy", time.monotonic()
        run = run_migrations(scratch, progress=progress)
        timings["migrate_seconds"] = _since(started)
        phase, started = "verifying the copy", time.monotonic()
        _report(progress, "verify", 0, 1, "verifying the migrated copy")
        verification = verify_migration(scratch, before, run.columns_added, run=run)
        timings["verify_seconds"] = _since(started)
    except MetamorphError as exc:
        raise RehearsalFailed(db_path, phase, exc) from None
    finally:
        _remove(scratch)
    measured = timings["migrate_seconds"] + timings["verify_seconds"]
    return {
        "db_path": str(db_path),
        "ok": verification.ok,
        **timings,
        "run": run.to_dict(),
        "verification": verification.to_dict(),
        "downtime": estimate_downtime(size, measured),
        "scratch_deleted": True,
    }


def copy_online(source_path, target_path, progress=None):
    """The backups' online copy (restarts when Metamorph commits, then holds a read lock; one
    snapshot in WAL mode), into a no-journal scratch file."""
    online_copy(source_path, target_path, _progress_or_silent(progress))
    make_single_file(target_path)


def _progress_or_silent(progress):
    return progress or (lambda phase, done, total, message="": None)


def _counts_of_intact_copy(db_path, scratch):
    """Row counts of the copy, after its quick_check: a damaged live file is not rehearsed."""
    with open_for_reading(scratch) as conn:
        quick = inspect.integrity(conn)
        if not quick["ok"]:
            raise DamagedDatabase.from_check(
                db_path, quick["messages"], check="quick_check of its rehearsal copy"
            )
        return count_rows(conn)


def _check_scratch_space(db_path, scratch_dir, size):
    if not os.path.isdir(scratch_dir):
        raise RehearsalFailed(
            db_path,
            "preparing the scratch copy",
            f"the scratch directory {scratch_dir} does not exist.",
        )
    free = shutil.disk_usage(scratch_dir).free
    # The copy, then the indexes the migration adds to it (at most the copy's size again).
    if free < 2 * size + 16 * MB:
        raise RehearsalFailed(
            db_path,
            "preparing the scratch copy",
            DiskFull(
                scratch_dir,
                f"{human_size(free)} free, about {human_size(2 * size + 16 * MB)} needed",
            ),
        )


def _remove(path):
    for p in (path, f"{path}-journal", f"{path}-wal", f"{path}-shm"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def _since(started):
    return round(time.monotonic() - started, 4)


def _report(progress, phase, done, total, message):
    if progress:
        progress(phase, done, total, message)
