"""Verified backups stored in, listed from, checked in and fetched back from the repository.

An archive is `<database>.<backup name>`: the verified copy as `metamorph.db` (or
`metamorph.db.gz`) and its manifest as `manifest.json`, with the comment
`sha256=<the manifest's sha256> label=<label>`. Nothing here reads a row of the database.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from . import files as files
from . import manifest as manifests
from .repository import CHUNKER, COMPRESSION, Repository, RepositoryError

DATA_NAMES = ("metamorph.db", "metamorph.db.gz")
MANIFEST_NAME = "manifest.json"
CHECK_SECONDS = 300  # borg check --max-duration: a slice of the segments per run, resumed


@dataclass
class Snapshot:
    """One archive of the repository, as its index says (no file is read)."""

    id: str
    archive: str
    database: str
    backup_name: str
    created_at: str
    sha256: str
    label: str


@dataclass
class RetentionPolicy:
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None

    def args(self):
        pairs = (
            ("--keep-daily", self.daily),
            ("--keep-weekly", self.weekly),
            ("--keep-monthly", self.monthly),
        )
        return [a for flag, n in pairs if n for a in (flag, str(n))]


def _noop(*args):
    pass


def store_backup(repo: Repository, database, backup_path, manifest, progress=_noop):
    """Put one verified local backup into the repository (created on first use): its
    archive's id, the bytes it added and the repository's size after it."""
    stage = os.path.join(os.path.dirname(backup_path), f".repository-stage-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage, mode=0o700)
    try:
        data = DATA_NAMES[1] if backup_path.endswith(".gz") else DATA_NAMES[0]
        os.link(backup_path, os.path.join(stage, data))
        os.link(files.manifest_path(backup_path), os.path.join(stage, MANIFEST_NAME))
        archive = f"{database}.{manifest['name']}"
        progress("repository", 0, 1, f"storing {manifest['name']} in the repository")
        started = time.monotonic()
        created = repo.run_json_creating(
            "create",
            "--chunker-params",
            CHUNKER,
            "--compression",
            COMPRESSION,
            "--comment",
            _comment(manifest),
            f"::{archive}",
            data,
            MANIFEST_NAME,
            cwd=stage,
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    stats = created["archive"]["stats"]
    progress("repository", 1, 1, f"stored as {archive}")
    return {
        "archive": archive,
        "id": created["archive"]["id"],
        "added_bytes": stats["deduplicated_size"],
        "original_bytes": stats["original_size"],
        # borg reads its cache's totals for the repository after the archive: what `borg info`
        # would say, without a second run
        "repository_bytes": created["cache"]["stats"]["unique_csize"],
        "upload_seconds": round(time.monotonic() - started, 3),
    }


def _comment(manifest):
    # borg formats {placeholders} in a comment: braces become parentheses
    label = "".join(c for c in manifest.get("label") or "" if c.isprintable())
    label = label.replace("{", "(").replace("}", ")")
    return f"sha256={manifest['sha256']} label={label}"


def list_snapshots(repo: Repository, database=None):
    """Every archive we wrote (of `database`), newest first, from the repository's index."""
    found = repo.run_json("list", "--format", "{comment}", *_glob(database))
    out = [_snapshot(a) for a in (found or {}).get("archives", [])]
    return sorted((s for s in out if s), key=lambda s: s.created_at, reverse=True)


def _glob(database):
    return ["--glob-archives", f"{database}.metamorph-backup-*"] if database else []


def _snapshot(entry):
    database, _, rest = entry["name"].rpartition(".metamorph-backup-")
    backup_name = "metamorph-backup-" + rest
    if not database or not files.NAME_RE.match(backup_name):
        return None  # an archive someone else wrote
    fields = dict(p.split("=", 1) for p in entry.get("comment", "").split(" ", 1) if "=" in p)
    created = datetime.fromisoformat(entry["start"]).replace(tzinfo=UTC)
    return Snapshot(
        id=entry["id"],
        archive=entry["name"],
        database=database,
        backup_name=backup_name,
        created_at=created.isoformat(),
        sha256=fields.get("sha256", ""),
        label=fields.get("label", ""),
    )


def retention(repo: Repository, database, policy: RetentionPolicy, dry_run=True):
    """Archive names of `database` that `policy` drops (now, or on the next run if dry_run)."""
    if not policy.args():
        return []
    args = ["prune", "--list", "--log-json", *policy.args(), *_glob(database)]
    _, log = repo.run(*args, *(["--dry-run"] if dry_run else []))
    dropped = []
    for message in _log_messages(log):
        if message.startswith(("Would prune:", "Pruning archive")):
            dropped.append(message.split(":", 1)[1].split()[0])
    if dropped and not dry_run:
        repo.run("compact")
    return dropped


# borg's own periods (borg/helpers/misc.py prune_split), applied in this order
_PERIODS = (("daily", "%Y-%m-%d"), ("weekly", "%G-%V"), ("monthly", "%Y-%m"))


def next_run_drops(snapshots, policy: RetentionPolicy, next_at):
    """Archives the next run (one more archive at `next_at`) will drop, by borg's own rule:
    per period, newest first, the newest archive of each of the last N periods is kept (and
    the oldest one while fewer than N periods have archives)."""
    if not policy.args():
        return []
    times = {s.archive: datetime.fromisoformat(s.created_at) for s in snapshots}
    times[None] = next_at
    ordered = sorted(times, key=lambda a: times[a], reverse=True)
    kept: set = set()
    for rule, pattern in _PERIODS:
        n = getattr(policy, rule) or 0
        last, keep, a = None, [], None
        for a in ordered:
            period = times[a].strftime(pattern)
            if period != last:
                last = period
                if a not in kept:
                    keep.append(a)
                    kept.add(a)
                    if len(keep) == n:
                        break
        if n and a is not None and len(keep) < n and a not in kept:
            kept.add(a)
    return [a for a in ordered if a is not None and a not in kept]


def expected_next_run(snapshots, now):
    """When the next backup will probably run: the newest archive plus the usual gap between
    archives (a day when there are too few to tell), and not before `now`."""
    times = sorted(datetime.fromisoformat(s.created_at) for s in snapshots)
    if not times:
        return now
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    gap = gaps[len(gaps) // 2] if gaps else timedelta(days=1)
    return max(now, times[-1] + gap)


def _log_messages(log):
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") == "log_message":
            yield str(entry.get("message", ""))


def repository_size(repo: Repository):
    """Bytes the repository holds after deduplication and compression."""
    return repo.run_json("info")["cache"]["stats"]["unique_csize"]


def check_repository(repo: Repository, max_seconds=CHECK_SECONDS):
    """borg's own check: a slice of the segments (resumed next run) and every archive's index."""
    repo.run("check", "--repository-only", "--max-duration", str(max_seconds), ok=(0,))
    repo.run("check", "--archives-only", ok=(0,))


def fetch(repo: Repository, snapshot: Snapshot, work_dir):
    """Extract one archive under `work_dir`: (data path, manifest) once sha256 matches it."""
    target = os.path.join(work_dir, f".repository-fetch-{os.getpid()}-{snapshot.id[:8]}")
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target, mode=0o700)
    repo.run("extract", f"::{snapshot.archive}", cwd=target)
    data = next(
        (os.path.join(target, n) for n in DATA_NAMES if os.path.exists(os.path.join(target, n))),
        None,
    )
    try:
        with open(os.path.join(target, MANIFEST_NAME), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        manifest = None
    if data is None or not isinstance(manifest, dict):
        shutil.rmtree(target, ignore_errors=True)
        raise RepositoryError(f"Archive {snapshot.archive} holds no backup and manifest of ours.")
    with open(data, "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
    if sha != manifest.get("sha256") or sha != snapshot.sha256:
        shutil.rmtree(target, ignore_errors=True)
        raise RepositoryError(
            f"Archive {snapshot.archive} does not match its manifest (sha256 {sha[:12]}…, the "
            f"manifest says {str(manifest.get('sha256'))[:12]}…): it is not restorable."
        )
    return data, manifest


def check_snapshot(repo: Repository, snapshot: Snapshot, work_dir):
    """Restore `snapshot` to a temporary file: sha256 against the manifest, then quick_check."""
    started = time.monotonic()
    try:
        data, _ = fetch(repo, snapshot, work_dir)
    except RepositoryError as exc:
        return _result(snapshot, False, str(exc), started)
    try:
        if data.endswith(".gz"):
            return _result(snapshot, True, "sha256 matches the manifest (compressed copy)", started)
        conn = sqlite3.connect(f"file:{data}?mode=ro&immutable=1", uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
        if problems != ["ok"]:
            return _result(snapshot, False, f"quick_check: {'; '.join(problems[:3])}", started)
        return _result(
            snapshot, True, "restored: sha256 matches the manifest, quick_check ok", started
        )
    finally:
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)


def _result(snapshot, ok, message, started):
    return {
        "snapshot": asdict(snapshot),
        "restorable": ok,
        "message": message,
        "checked_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 3),
    }


def place_locally(repo: Repository, snapshot: Snapshot, backup_dir):
    """Bring `snapshot` back as a verified local backup (for the usual restore); its name."""
    files.prepare_dir(backup_dir)
    path = os.path.join(backup_dir, snapshot.backup_name)
    existing, _ = manifests.read(path) if os.path.exists(path) else (None, "")
    if (
        existing
        and existing.get("sha256") == snapshot.sha256
        and manifests.file_state(path, existing)[0] == "verified"
    ):
        return snapshot.backup_name  # the local copy is that very backup
    data, manifest = fetch(repo, snapshot, backup_dir)
    try:
        if os.path.lexists(path):
            raise RepositoryError(
                f"{snapshot.backup_name} exists in {backup_dir} and differs from the archive: "
                "move it away first, nothing was changed."
            )
        os.chmod(data, files.FILE_MODE)
        manifests.record_file(manifest, data)
        work = files.Workspace(backup_dir)
        manifests.publish(work, backup_dir, manifest)
        files.publish(data, path)
        files.fsync_dir(backup_dir)
    finally:
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    return snapshot.backup_name
