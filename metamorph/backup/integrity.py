"""A full integrity_check that never holds Metamorph's writes back for long.

In rollback-journal mode (Metamorph's) a reader blocks every commit for as long as its read
lasts, and `integrity_check` reads the whole file: ~5 s per GB warm, 30 s cold, longer than
Metamorph's 5 s busy timeout. So the check reads a snapshot instead: the backups' online copy
(writers wait at most for its read lock, ~1 s per GB) into a private scratch file beside the
backups, checked and deleted. The copy is page for page the live file's, so its damage is the
live file's. In WAL mode readers block no writer: the live file is checked directly.
"""

import os
import shutil
import sqlite3

from metamorph import inspect
from metamorph.connection import open_readonly

from . import files
from .copy import make_single_file, online_copy, silent

MARGIN = 16 * 1024 * 1024


def full_integrity_check(db_path, scratch_dir, progress=silent):
    """`PRAGMA integrity_check` result ({check, ok, messages, seconds}) plus `method`:
    "snapshot copy" or "live file" (and `note` when it had to read the live file)."""
    with open_readonly(db_path, require_metamorph=False) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode == "wal":
            return _checked(conn, progress, "live file", "")
    size = files.source_bytes(db_path)
    if not _room_for(scratch_dir, size):
        note = (
            f"not enough free space in {scratch_dir} for a snapshot copy "
            f"({size // 2**20} MB): the live file was read directly and Metamorph's "
            "writes waited for the check"
        )
        with open_readonly(db_path, require_metamorph=False) as conn:
            return _checked(conn, progress, "live file", note)
    files.prepare_dir(scratch_dir)
    work = files.Workspace(scratch_dir)
    try:
        copy = work.new("integrity")
        online_copy(db_path, copy, progress)
        make_single_file(copy)
        conn = sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True)
        try:
            return _checked(conn, progress, "snapshot copy", "")
        finally:
            conn.close()
    finally:
        work.discard()


def _room_for(directory, size):
    target = directory if os.path.isdir(directory) else os.path.dirname(directory) or "."
    try:
        return shutil.disk_usage(target).free >= size + MARGIN
    except OSError:
        return False


def _checked(conn, progress, method, note):
    progress("integrity_check", 0, 1, f"running integrity_check on the {method}")
    outcome = inspect.integrity(conn, full=True)
    progress("integrity_check", 1, 1, "ok" if outcome["ok"] else "problems found")
    return dict(outcome, method=method, note=note)
