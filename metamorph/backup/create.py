"""Creating a backup: online copy, verification, optional gzip, publication, retention."""

import os
import sqlite3
import time
from datetime import datetime

from metamorph.connection import check_file, translate_error
from metamorph.errors import BackupCorrupt, BackupDiskFull, MetamorphError

from . import copy as copier
from . import files as files
from . import manifest as manifests
from .listing import apply_retention, check_keep

MAX_LABEL = 80  # the form, the command and the manifest: one limit


def run_backup(
    db_path,
    backup_dir,
    label="",
    compress=False,
    keep=None,
    progress=None,
    verify="full",
    source=None,
):
    """Copy the live database online into a verified backup; return its manifest.

    `verify`: "full" checks the copy with integrity_check, "quick" with quick_check (much
    faster on big files; a restore still runs the full check first). Either runs beside the
    sha256 of the copy, not after it.
    `source`: a connection holding the database's lock exclusively, to copy through (a
    forced restore's safety backup); by default the copy opens its own read-only connection.
    With `source` the file itself is never opened here: closing any descriptor of it would
    drop this process's POSIX locks, the very lock the restore holds.

    The returned dict is the manifest plus `path`, `manifest_path`, `deleted` (names removed
    by `keep`) and `leftovers_removed` (partial files of killed runs).
    """
    report = progress or copier.silent
    db_path, backup_dir = os.path.abspath(db_path), os.path.abspath(backup_dir)
    if source is None:
        check_file(db_path)
    label, keep = _clean_label(label), check_keep(keep)
    check = copier.check_name(verify)
    warnings = files.prepare_dir(backup_dir)
    leftovers = files.clean_partials(backup_dir) + manifests.clean_orphans(backup_dir)
    needed = files.source_bytes(db_path) * (2 if compress else 1) + 1024**2
    work = files.Workspace(backup_dir)
    data = work.new("db")  # proves files can be created there before anything else
    try:
        files.check_free_space(backup_dir, needed)
        manifest = _verified_copy(db_path, data, label, warnings, report, check, through=source)
        if compress:
            data = _compress(work, data, manifest, report)
        path = _publish(backup_dir, work, data, manifest, report)
    except BaseException as exc:
        work.discard()
        if files.is_disk_full(exc):
            raise BackupDiskFull(backup_dir, needed, files.free_bytes(backup_dir)) from None
        translated = (
            translate_error(exc, db_path)
            if isinstance(exc, sqlite3.Error) and source is None
            else exc
        )
        if translated is not exc:
            raise translated from exc
        raise
    deleted = apply_retention(backup_dir, keep, protect=manifest["name"]) if keep else []
    report("done", 1, 1, f"backup {manifest['name']} written and verified")
    return dict(
        manifest,
        path=path,
        manifest_path=files.manifest_path(path),
        deleted=deleted,
        leftovers_removed=leftovers,
    )


def _clean_label(label):
    text = "".join(ch for ch in str(label or "") if ch.isprintable()).strip()
    return text[:MAX_LABEL]


def _verified_copy(db_path, data, label, warnings, report, check, through=None):
    source = {"size_bytes": files.source_bytes(db_path)}
    report("copy", 0, source["size_bytes"], "starting the online copy")
    started = time.monotonic()
    copy = copier.online_copy(db_path, data, report, through, hash_behind=True)
    behind = copy.pop("hash_behind", None)  # the kernel copy's sha256, read beside it
    try:
        created_at = manifests.utc_now()
        if copier.make_single_file(data) and behind:
            behind.close()  # the header changed after it was read: hash the copy again
            behind = None
        copy["copy_seconds"] = _since(started)
        started = time.monotonic()
        # The copy reaches the disk while it is hashed and checked (both read the page cache):
        # nothing is published before the fsync returned.
        report("verify", 0, os.path.getsize(data), f"computing sha256 and {check} of the copy")
        with files.fsync_beside(data):
            sha, problems = copier.hash_and_check(
                data, report, "verify", check, mapped=True, digest=behind and behind.digest
            )
    finally:
        if behind:
            behind.close()
    if problems:
        raise BackupCorrupt(db_path, problems)
    verify_seconds, started = _since(started), time.monotonic()
    report("count", 0, 1, "counting rows per table and vault in the copy")
    facts = copier.describe_copy(data)
    facts["count_seconds"] = _since(started)
    manifest = manifests.build(
        created_at=created_at,
        label=label,
        db_path=db_path,
        source=source,
        copy=copy,
        facts=facts,
        database_sha256=sha,
        warnings=warnings,
        verify_seconds=verify_seconds,
        check=check,
    )
    manifests.record_file(manifest, data)
    return manifest


def _since(started):
    return round(time.monotonic() - started, 3)


def _compress(work, data, manifest, report):
    """gzip the verified copy, then prove the .gz decompresses to exactly that copy."""
    started = time.monotonic()
    gz = work.new("db.gz")
    copier.gzip_file(data, gz, "metamorph-backup.db", report)
    work.discard(data)
    report("verify", 0, os.path.getsize(gz), "decompressing the .gz to check it")
    outer, inner, size = copier.gunzip_hashes(gz, progress=report)
    if inner != manifest["database_sha256"] or size != manifest["database_size_bytes"]:
        raise MetamorphError(
            "The compressed backup does not decompress to the verified copy (a disk or memory "
            "fault?). No backup was kept; run the backup again, or without --compress."
        )
    manifest.update(
        compressed=True, sha256=outer, compress_seconds=round(time.monotonic() - started, 3)
    )
    manifests.record_file(manifest, gz)
    return gz


def _publish(backup_dir, work, data, manifest, report):
    """Manifest first, then the data file: a run killed between the two lists nothing."""
    when = datetime.fromisoformat(manifest["created_at"])
    for name in files.candidate_names(backup_dir, when, manifest["compressed"]):
        manifest["name"] = name
        try:
            manifests.publish(work, backup_dir, manifest)
        except FileExistsError:
            continue  # another run took this name between the check and the link
        files.fsync_dir(backup_dir)
        report("publish", 1, 2, f"manifest {name}.json written")
        path = os.path.join(backup_dir, name)
        files.publish(data, path)
        files.fsync_dir(backup_dir)
        report("publish", 2, 2, f"{name} published")
        return path
    raise MetamorphError(f"No free backup name left in {backup_dir} for {when:%Y-%m-%d %H:%M:%S}.")
