"""Checking a backup again against its manifest: sha256 and integrity_check.

Nothing is ever written into the backup file: it is read through `immutable=1` (no lock,
no journal). Only its manifest is rewritten, to remember the outcome for the list.
"""

import gzip
import os
import time
import zlib

from . import copy as copier
from . import files as files
from . import manifest as manifests

STATES = ("ok", "changed", "corrupt", "missing-manifest")


def verify_backup(backup_dir, name, progress=None, record=True):
    """Re-check backup `name`; state is ok / changed / corrupt / missing-manifest.

    Returns {name, path, state, ok, message, expected_sha256, actual_sha256, integrity,
    checked_at, seconds}. With `record`, the outcome is noted in the manifest.
    """
    report = progress or copier.silent
    path = files.existing_backup(backup_dir, name)
    manifest, problem = manifests.read(path)
    if manifest is None:
        return _result(path, "missing-manifest", problem, time.monotonic())
    work = files.Workspace(os.path.dirname(path))
    try:
        result, _ = check_against_manifest(path, manifest, work, report)
        if record:
            manifests.record_verification(work, path, manifest, result)
    finally:
        work.discard()
    return result


def check_against_manifest(path, manifest, work, report, keep_inner=False):
    """(result, path of the plain database) — for a .gz the database is decompressed into
    `work`, and kept there for the caller when `keep_inner` (a restore reads it)."""
    started = time.monotonic()
    if manifest.get("compressed"):
        actual, inner_ok, problems, db_path = _check_compressed(path, manifest, work, report)
    else:
        report("verify", 0, os.path.getsize(path), "computing sha256 and integrity_check")
        actual, problems = copier.hash_and_check(path, report, "verify")
        inner_ok, db_path = True, path
    if problems:
        state, message = "corrupt", "integrity check fails: " + "; ".join(problems[:3])
    elif actual != manifest["sha256"] or not inner_ok:
        state = "changed"
        message = (
            f"sha256 is {actual[:16]}…, the manifest recorded "
            f"{manifest['sha256'][:16]}…: the file changed after it was written"
        )
    else:
        state, message = "ok", "sha256 and integrity_check match the manifest"
    if db_path != path and (state != "ok" or not keep_inner):
        work.discard(db_path)
        db_path = None
    result = _result(path, state, message, started, manifest["sha256"], actual, problems or ["ok"])
    report("verify", 1, 1, message)
    return result, db_path


def _check_compressed(path, manifest, work, report):
    inner = work.new("inner.db")
    try:
        outer, inner_sha, _ = copier.gunzip_hashes(path, inner, report)
    except (OSError, EOFError, zlib.error) as exc:
        if files.is_disk_full(exc):
            raise
        actual = copier.sha256_file(path)
        return actual, False, [f"the .gz cannot be decompressed ({_why(exc)})"], inner
    report("integrity", 0, 1, "running integrity_check on the decompressed copy")
    problems = copier.integrity_problems(inner)
    return outer, inner_sha == manifest.get("database_sha256"), problems, inner


def _why(exc):
    if isinstance(exc, gzip.BadGzipFile):
        return "not a gzip file"
    if isinstance(exc, EOFError):
        return "it ends early: truncated"
    return str(exc) or exc.__class__.__name__


def _result(path, state, message, started, expected=None, actual=None, integrity=None):
    return {
        "name": os.path.basename(path),
        "path": path,
        "state": state,
        "ok": state == "ok",
        "message": message,
        "expected_sha256": expected,
        "actual_sha256": actual,
        "integrity": integrity or [],
        "checked_at": manifests.utc_now().isoformat(),
        "seconds": round(time.monotonic() - started, 3),
    }
