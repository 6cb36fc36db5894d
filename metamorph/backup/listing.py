"""Reading the backup directory: the list with verification states, retention, the newest."""

import os
from datetime import datetime

from metamorph.errors import BackupInvalidOption

from . import files as files
from . import manifest as manifests


def check_keep(keep):
    """`keep` if it is None or a whole number >= 1, else a clear BackupInvalidOption."""
    if keep is None:
        return None
    if not isinstance(keep, int) or keep < 1:
        raise BackupInvalidOption(
            f"--keep must be a whole number of at least 1 (got {keep!r}): the newest verified "
            "backup is never deleted."
        )
    return keep


def list_backups(backup_dir):
    """Every backup in `backup_dir`, newest first, with its verification state."""
    backup_dir = os.path.abspath(backup_dir)
    if not os.path.isdir(backup_dir):
        return []
    entries = [
        _describe(entry)
        for entry in os.scandir(backup_dir)
        if files.NAME_RE.match(entry.name) and entry.is_file(follow_symlinks=False)
    ]
    entries.sort(key=lambda e: (datetime.fromisoformat(e["created_at"]), e["name"]), reverse=True)
    return entries


def _describe(entry):
    info = entry.stat(follow_symlinks=False)
    manifest, problem = manifests.read(entry.path)
    if manifest:
        state, problem = manifests.file_state(entry.path, manifest)
        created = datetime.fromisoformat(manifest["created_at"])
    else:
        state, created = "unverified", _created_from_name(entry.name, info.st_mtime)
    m = manifest or {}
    return {
        "name": entry.name,
        "path": entry.path,
        "size_bytes": info.st_size,
        "created_at": created.isoformat(),
        "age_seconds": max(0, round((manifests.utc_now() - created).total_seconds())),
        "label": m.get("label", ""),
        "state": state,
        "problem": problem,
        "compressed": entry.name.endswith(".gz"),
        "total_rows": m.get("total_rows"),
        "row_totals": manifests.manifest_row_counts(m),
        "applied_migrations": [
            r.get("id") for r in m.get("applied_migrations") or [] if isinstance(r, dict)
        ],
        "sha256": m.get("sha256"),
        "source_path": m.get("source_path"),
        "last_verification": m.get("last_verification"),
        "has_manifest": bool(manifest),
        # Manifests written before --verify existed were all checked in full.
        "verify_mode": m.get("verify_mode", "full") if manifest else None,
    }


def _created_from_name(name, mtime):
    match = files.NAME_RE.match(name)
    if match is None:  # not one of our names: its file time is all we know
        return datetime.fromtimestamp(mtime, manifests.utc_now().tzinfo)
    try:
        return datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S").replace(
            tzinfo=manifests.utc_now().tzinfo
        )
    except ValueError:
        return datetime.fromtimestamp(mtime, manifests.utc_now().tzinfo)


def apply_retention(backup_dir, keep, protect=None):
    """Delete verified backups we wrote beyond the `keep` newest; return the deleted names.

    Never deletes the newest verified backup, `protect`, or any file without our manifest.
    """
    check_keep(keep)
    verified = [e for e in list_backups(backup_dir) if e["state"] == "verified"]
    kept = [e["name"] for e in verified if e["name"] == protect]
    doomed = []
    for entry in verified:
        if entry["name"] == protect:
            continue
        if len(kept) < keep:
            kept.append(entry["name"])
        else:
            doomed.append(entry)
    for entry in doomed:
        # The data file goes first: a run killed here leaves a manifest, never an unlisted file.
        files.remove_quietly(entry["path"])
        files.remove_quietly(files.manifest_path(entry["path"]))
    files.fsync_dir(os.path.abspath(backup_dir))
    return [e["name"] for e in doomed]


def latest_verified_backup(backup_dir, max_age_hours=None, source_path=None):
    """(path, created_at, manifest) of the newest verified backup (of `source_path` when
    given), or None.

    Trusts the manifest and a stat of the file; call verify_backup for a full re-check.
    """
    wanted = os.path.realpath(source_path) if source_path else None
    for entry in list_backups(backup_dir):
        if entry["state"] != "verified":
            continue
        created = datetime.fromisoformat(entry["created_at"])
        age = (manifests.utc_now() - created).total_seconds()
        if max_age_hours is not None and age > max_age_hours * 3600:
            return None
        manifest, _ = manifests.read(entry["path"])
        if manifest and (
            wanted is None or os.path.realpath(manifest.get("source_path") or "") == wanted
        ):
            return entry["path"], created, manifest
    return None


_NEWEST_CACHE: dict[tuple, dict | None] = {}


def newest_verified(backup_dir, source_path=None):
    """The list entry of the newest verified backup (of `source_path` when given), or None.

    Pages and /metrics ask this on every request: the answer is kept per directory state
    (its mtime changes when a backup, a manifest rewrite or a deletion lands), so manifests
    are read again only after the directory changed. `age_seconds` is recomputed each call.
    """
    backup_dir = os.path.abspath(backup_dir)
    try:
        stamp = os.stat(backup_dir).st_mtime_ns
    except OSError:
        return None
    wanted = os.path.realpath(source_path) if source_path else None
    key = (backup_dir, stamp, wanted)
    if key not in _NEWEST_CACHE:
        entry = next(
            (
                e
                for e in list_backups(backup_dir)
                if e["state"] == "verified"
                and (wanted is None or os.path.realpath(e["source_path"] or "") == wanted)
            ),
            None,
        )
        if len(_NEWEST_CACHE) > 16:
            _NEWEST_CACHE.clear()
        _NEWEST_CACHE[key] = entry
    entry = _NEWEST_CACHE[key]
    if entry is None:
        return None
    created = datetime.fromisoformat(entry["created_at"])
    return dict(entry, age_seconds=max(0.0, (manifests.utc_now() - created).total_seconds()))
