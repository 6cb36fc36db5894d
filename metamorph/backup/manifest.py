"""The manifest beside each backup: what it holds, how it was checked, whether it still matches.

`<backup name>.json`, written to a partial name, fsynced and linked into place before the
data file appears. It never holds a value read from a table: only counts, ids of
migrations and vaults, sizes and hashes (the backup itself holds OAuth tokens).
"""

import json
import os
import sqlite3
from datetime import UTC, datetime

from . import files as files

FORMAT_VERSION = 1
WRITTEN_BY = "metamorph-admin"
_REQUIRED = {
    "format_version": int,
    "written_by": str,
    "name": str,
    "created_at": str,
    "sha256": str,
    "backup_size_bytes": int,
    "file_mtime_ns": int,
}


# A copy that held the live file's read lock longer than this says so: Metamorph's commits
# waited that long, and its busy timeout is 5 s (a longer wait is a failed write there).
HOLD_WARNING_SECONDS = 2.5


def utc_now():
    return datetime.now(UTC)


def operator_warnings(manifest: dict) -> list[str]:
    """What the operator should read about a backup, wherever it is shown (the job page, the
    command's output): the manifest's own warnings, then a copy that held Metamorph's
    commits for a long time."""
    found = [str(w) for w in manifest.get("warnings") or []]
    held = manifest.get("longest_read_lock_seconds")
    if isinstance(held, int | float) and held > HOLD_WARNING_SECONDS:
        found.append(
            f"The copy held the live file's read lock for {held:.1f} s: Metamorph's commits "
            "waited that long (its busy timeout is 5 s). Back up while the server is quiet, or "
            "put the file in WAL mode once (Metamorph stopped): WAL backups never block it."
        )
    return found


def build(
    *,
    created_at,
    label,
    db_path,
    source,
    copy,
    facts,
    database_sha256,
    verify_seconds,
    warnings,
    check="integrity_check",
):
    """The manifest of an uncompressed, verified copy (name and file facts come later)."""
    return {
        "format_version": FORMAT_VERSION,
        "written_by": WRITTEN_BY,
        "writer_pid": os.getpid(),
        "name": None,
        "created_at": created_at.isoformat(),
        "label": label,
        "source_path": db_path,
        "source_size_bytes": source["size_bytes"],
        "journal_mode": copy["source_journal_mode"],
        "sqlite_version": sqlite3.sqlite_version,
        "page_size": facts["page_size"],
        "page_count": facts["page_count"],
        "database_size_bytes": facts["page_size"] * facts["page_count"],
        "database_sha256": database_sha256,
        "integrity_check": "ok",  # the check below passed (kept for older readers)
        "verify_mode": "quick" if check == "quick_check" else "full",
        "verify_check": check,
        "compressed": False,
        "sha256": database_sha256,
        "backup_size_bytes": None,
        "file_mtime_ns": None,
        "applied_migrations": facts["applied_migrations"],
        "row_counts": facts["row_counts"],
        "vault_totals": facts["vault_totals"],
        "total_rows": facts["total_rows"],
        "copy_seconds": copy["copy_seconds"],
        "copy_restarts": copy["copy_restarts"],
        "copy_mode": copy["copy_mode"],
        "longest_read_lock_seconds": copy.get("longest_read_lock_seconds"),
        # A byte-for-byte copy (the kernel's): the source as it was, to tell later whether
        # the live file is still exactly these bytes (metamorph.backup.file_copy).
        "source_identity": copy.get("source_identity"),
        "verify_seconds": verify_seconds,
        "count_seconds": facts["count_seconds"],
        "compress_seconds": None,
        "warnings": warnings,
        "last_verification": None,
    }


def record_file(manifest, data_path):
    """Record size and modification time of the file as it will be published."""
    info = os.stat(data_path)
    manifest["backup_size_bytes"] = info.st_size
    manifest["file_mtime_ns"] = info.st_mtime_ns


def _write_partial(path, manifest):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def publish(work, backup_dir, manifest):
    """Link the manifest into place under `manifest["name"]`; FileExistsError if taken."""
    partial = work.new("json")
    try:
        _write_partial(partial, manifest)
        files.publish(partial, files.manifest_path(os.path.join(backup_dir, manifest["name"])))
    finally:
        work.discard(partial)


def rewrite(work, data_path, manifest):
    """Replace an existing manifest atomically (after a verification)."""
    partial = work.new("json")
    try:
        _write_partial(partial, manifest)
        os.replace(partial, files.manifest_path(data_path))
    finally:
        work.discard(partial)
    files.fsync_dir(os.path.dirname(data_path))


def read(data_path):
    """(manifest, "") when `data_path` has a valid manifest we wrote, else (None, why not)."""
    path = files.manifest_path(data_path)
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        return None, "no manifest beside it: not written (or not finished) by metamorph-admin"
    except (OSError, ValueError) as exc:
        return None, f"its manifest cannot be read ({exc.__class__.__name__})"
    problem = _shape_problem(manifest, os.path.basename(data_path))
    return (None, problem) if problem else (manifest, "")


def _shape_problem(manifest, name):
    if not isinstance(manifest, dict) or manifest.get("written_by") != WRITTEN_BY:
        return "its manifest was not written by metamorph-admin"
    for key, kind in _REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            return f"its manifest has no valid {key}"
    if manifest["format_version"] > FORMAT_VERSION:
        return (
            f"its manifest has format {manifest['format_version']}, newer than this "
            "metamorph-admin understands"
        )
    if manifest["name"] != name:
        return f"its manifest describes {manifest['name']}, not this file"
    try:
        created = datetime.fromisoformat(manifest["created_at"])
    except ValueError:
        created = None
    if created is None or created.tzinfo is None:
        return "its manifest has no valid created_at"
    return ""


def file_state(data_path, manifest):
    """("verified" | "changed" | "corrupt", why) from the manifest and a stat of the file."""
    last = manifest.get("last_verification") or {}
    if last.get("state") in ("changed", "corrupt"):
        return last["state"], last.get("message", "the last verification failed")
    info = os.stat(data_path)
    if info.st_size != manifest["backup_size_bytes"]:
        return "changed", (
            f"its size is {info.st_size} bytes, the manifest says "
            f"{manifest['backup_size_bytes']}: verify it before any use"
        )
    if info.st_mtime_ns != manifest["file_mtime_ns"]:
        return "changed", "it was modified after it was verified: verify it before any use"
    return "verified", ""


def record_verification(work, data_path, manifest, result):
    """Remember a verification in the manifest, so the list shows it; the backup is not touched."""
    manifest = dict(manifest)
    manifest["last_verification"] = {
        "state": result["state"],
        "checked_at": result["checked_at"],
        "message": result["message"],
    }
    if result["state"] == "ok":
        manifest["file_mtime_ns"] = os.stat(data_path).st_mtime_ns
    rewrite(work, data_path, manifest)
    return manifest


def manifest_row_counts(manifest):
    """{table: total rows} as the backup recorded them (absent tables left out)."""
    counts = manifest.get("row_counts")
    return {
        t: entry["total"]
        for t, entry in (counts if isinstance(counts, dict) else {}).items()
        if isinstance(entry, dict) and entry.get("state") != "absent" and "total" in entry
    }


def clean_orphans(backup_dir):
    """Remove manifests whose data file never appeared (a run killed between the two links)."""
    removed = []
    for entry in os.scandir(backup_dir):
        if not entry.name.endswith(files.MANIFEST_SUFFIX):
            continue
        data_name = entry.name[: -len(files.MANIFEST_SUFFIX)]
        data_path = os.path.join(backup_dir, data_name)
        if not files.NAME_RE.match(data_name) or os.path.lexists(data_path):
            continue
        manifest, _ = read(data_path)
        pid = manifest.get("writer_pid") if manifest else None
        if isinstance(pid, int) and files.is_stale(entry.path, pid):
            files.remove_quietly(entry.path)
            removed.append(entry.name)
    return removed
