"""A write a killed process left half done (a hot -journal): keep both files, then roll back.

SQLite undoes such a write the next time a writer opens the file; until then no read-only
connection may read it. Before letting it, we copy the file *with* its -journal into the
backup directory (together they are the state the killed process left), so the rollback is
never the only copy of anything.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import time

from ..connection import open_readonly, open_writable
from ..errors import BackupDiskFull, InterruptedWrite, NoInterruptedWrite
from .files import (
    DIR_MODE,
    FILE_MODE,
    check_free_space,
    fsync_dir,
    fsync_file,
    is_disk_full,
    prepare_dir,
)

FOLDER_PREFIX = "interrupted-write-"


def has_interrupted_write(db_path):
    """True when a killed writer left a hot journal that a reader may not roll back."""
    try:
        open_readonly(db_path, require_metamorph=False).close()
    except InterruptedWrite:
        return True
    return False


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy(source, target):
    shutil.copyfile(source, target)
    os.chmod(target, FILE_MODE)  # the file holds OAuth tokens, as every backup does
    fsync_file(target)
    return {"name": os.path.basename(target), "bytes": os.path.getsize(target)}


def keep_both_files(db_path, backup_dir):
    """Copy the file and its -journal into a new folder of `backup_dir`; that folder."""
    prepare_dir(backup_dir)
    journal = db_path + "-journal"
    needed = os.path.getsize(db_path) + os.path.getsize(journal)
    check_free_space(backup_dir, needed)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = os.path.join(backup_dir, f"{FOLDER_PREFIX}{stamp}-{os.getpid()}")
    os.mkdir(folder, DIR_MODE)
    name = os.path.basename(db_path)
    files = []
    try:
        for source in (db_path, journal):
            copied = _copy(source, os.path.join(folder, os.path.basename(source)))
            copied["sha256"] = _sha256(source)
            if _sha256(os.path.join(folder, copied["name"])) != copied["sha256"]:
                raise InterruptedWrite(db_path)  # someone wrote meanwhile: nothing to trust
            files.append(copied)
        manifest = {
            "source": os.path.abspath(db_path),
            "copied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
            "put_back": f"copy {name} and {name}-journal back together, then stop every "
            "process that opens the database",
        }
        with open(os.path.join(folder, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=2)
        fsync_dir(folder)
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if is_disk_full(exc):
            raise BackupDiskFull(backup_dir, needed, shutil.disk_usage(backup_dir).free) from None
        raise
    return folder, files


def roll_back_interrupted_write(db_path, backup_dir, progress=None):
    """Keep the file with its hot journal in `backup_dir`, then let SQLite roll it back."""
    report = progress or (lambda *args: None)
    if not has_interrupted_write(db_path):
        raise NoInterruptedWrite(db_path)
    report("keep", 0, 1, "copying the file and its -journal into the backup directory")
    folder, files = keep_both_files(db_path, backup_dir)
    report("keep", 1, 1, f"kept in {folder}")
    report("roll back", 0, 1, "letting SQLite roll the interrupted write back")
    # A writer's first read rolls the hot journal back (SQLite does it, not us).
    conn = open_writable(db_path, require_metamorph=False)
    try:
        quick = [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        quick = [str(exc)]
    finally:
        conn.close()
    still = has_interrupted_write(db_path)
    report("roll back", 1, 1, "rolled back" if not still else "still interrupted")
    ok = quick == ["ok"] and not still
    return {
        "ok": ok,
        "kept_in": folder,
        "files": files,
        "quick_check": "ok" if quick == ["ok"] else "; ".join(quick[:5]),
        "text": (
            f"Kept {files[0]['name']} and {files[1]['name']} in {folder} (the state the killed "
            f"writer left), then SQLite rolled the interrupted write back: the file is as it was "
            f"before that write began. quick_check: {'ok' if quick == ['ok'] else quick[0]}."
        ),
    }
