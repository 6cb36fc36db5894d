"""Files of the backup directory: names, private modes, publication, leftovers of killed runs.

A backup is written under a hidden `.partial` name and becomes visible by two hard links:
its manifest first, then its data file. A process killed at any moment therefore leaves
hidden partial files, or a manifest without its data file; neither is listed as a backup.
"""

import errno
import os
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager

from metamorph.connection import on_read_only_filesystem
from metamorph.errors import BackupDirUnusable, BackupDiskFull, BackupNotFound, InvalidBackupName

NAME_RE = re.compile(r"^metamorph-backup-(\d{8})-(\d{6})(?:-(\d{1,4}))?\.db(\.gz)?$")
PARTIAL_RE = re.compile(
    r"^\.metamorph-backup-\d{8}-\d{6}-(\d+)-[0-9a-f]{8}\."
    r"(?:db|db\.gz|json|inner\.db)\.partial(?:-journal|-wal|-shm)?$"
)
MANIFEST_SUFFIX = ".json"
FILE_MODE = 0o600
DIR_MODE = 0o700
# A leftover whose writer pid is alive is kept, unless untouched this long (the pid was reused).
STALE_SECONDS = 24 * 3600
_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")
_SQLITE_FULL = 13


def validate_name(name):
    """Return `name` if it is one of our backup names; refuse paths and anything else."""
    if not isinstance(name, str) or not NAME_RE.match(name) or os.path.basename(name) != name:
        raise InvalidBackupName(name)
    return name


def manifest_path(data_path):
    return data_path + MANIFEST_SUFFIX


def existing_backup(backup_dir, name):
    """Absolute path of backup `name` inside `backup_dir`; refuses symlinks and missing files."""
    validate_name(name)
    path = os.path.join(os.path.abspath(backup_dir), name)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise BackupNotFound(name, backup_dir) from None
    if stat.S_ISLNK(info.st_mode):
        raise BackupNotFound(name, backup_dir, "that name is a symbolic link, not a backup file")
    if not stat.S_ISREG(info.st_mode):
        raise BackupNotFound(name, backup_dir, "that name is not a regular file")
    return path


def prepare_dir(backup_dir):
    """Create `backup_dir` 0700 if missing; return warnings about an existing looser one."""
    if os.path.lexists(backup_dir) and not os.path.isdir(backup_dir):
        raise BackupDirUnusable(backup_dir, "it exists and is not a directory")
    created = False
    if not os.path.isdir(backup_dir):
        try:
            os.makedirs(backup_dir, mode=DIR_MODE)
            created = True
        except FileExistsError:
            pass
        except OSError as exc:
            why = (
                "it is on a read-only filesystem (remount it read-write, or use another folder)"
                if exc.errno == errno.EROFS
                else ""
            )
            raise BackupDirUnusable(
                backup_dir, why or f"it cannot be created ({_reason(exc)})"
            ) from None
    if on_read_only_filesystem(backup_dir):
        raise BackupDirUnusable(
            backup_dir,
            "it is on a read-only filesystem (remount it read-write, or use another folder)",
        )
    if not os.access(backup_dir, os.W_OK | os.X_OK):
        raise BackupDirUnusable(backup_dir, "this user may not create files in it")
    return _tighten(backup_dir, created)


def _tighten(backup_dir, created):
    mode = stat.S_IMODE(os.stat(backup_dir).st_mode)
    if not mode & 0o077:
        return []
    if created:
        try:
            os.chmod(backup_dir, DIR_MODE)
            return []
        except OSError as exc:
            return [f"Could not restrict {backup_dir} to mode 0700 ({_reason(exc)})."]
    return [
        f"{backup_dir} is open to other users (mode {mode:04o}) and backups hold OAuth "
        f"tokens: the files are 0600, but consider `chmod 700 {backup_dir}`."
    ]


def _reason(exc):
    return exc.strerror or str(exc)


class Workspace:
    """The hidden partial files of one run: created 0600, all removed if the run fails."""

    def __init__(self, backup_dir):
        self.backup_dir = backup_dir
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.stem = f".metamorph-backup-{stamp}-{os.getpid()}-{secrets.token_hex(4)}"
        self.paths = []

    def new(self, kind):
        """Create the empty private file `<stem>.<kind>.partial` and return its path."""
        path = os.path.join(self.backup_dir, f"{self.stem}.{kind}.partial")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.fchmod(fd, FILE_MODE)  # a umask cannot loosen 0600, but may tighten it to 0400
            os.close(fd)
        except OSError as exc:
            if is_disk_full(exc):
                raise
            raise BackupDirUnusable(
                self.backup_dir, f"no file can be created in it ({_reason(exc)})"
            ) from None
        self.paths.append(path)
        return path

    def discard(self, path=None):
        """Remove one partial file (or all of them) with any SQLite journal beside it."""
        for p in [path] if path else list(self.paths):
            for candidate in (p,) + tuple(p + s for s in _SQLITE_SIDECARS):
                remove_quietly(candidate)
            if p in self.paths:
                self.paths.remove(p)


def remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def fsync_beside(path):
    """fsync `path` in a thread while the block runs; its error, if any, raised at the end."""
    failed: list[BaseException] = []

    def sync():
        try:
            fsync_file(path)
        except BaseException as exc:  # ENOSPC or EIO on write-back: the caller's to raise
            failed.append(exc)

    worker = threading.Thread(target=sync, name=f"fsync {os.path.basename(path)}", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()
    if failed:
        raise failed[0]


def fsync_dir(path):
    """Make a rename or link in `path` durable (a directory entry is data of its own)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data files are synced
    finally:
        os.close(fd)


def publish(partial, final):
    """Give `partial` the name `final` without ever replacing a file (FileExistsError)."""
    try:
        os.link(partial, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(final):  # no hard links here: check, then rename
            raise FileExistsError(errno.EEXIST, "exists", final) from None
        os.rename(partial, final)
        return
    os.unlink(partial)


def candidate_names(backup_dir, when, compressed):
    """metamorph-backup-YYYYMMDD-HHMMSS.db, then -2, -3… while it or its manifest exists."""
    base = f"metamorph-backup-{when:%Y%m%d-%H%M%S}"
    ext = ".db.gz" if compressed else ".db"
    for n in range(1, 10000):
        name = f"{base}{'' if n == 1 else f'-{n}'}{ext}"
        path = os.path.join(backup_dir, name)
        if not os.path.lexists(path) and not os.path.lexists(manifest_path(path)):
            yield name


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(path, pid):
    """True when the process that wrote `path` is gone (or it has not been touched for a day)."""
    if pid == os.getpid():
        return False
    try:
        age = time.time() - os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    return not pid_alive(pid) or age > STALE_SECONDS


def clean_partials(backup_dir):
    """Remove partial files that killed runs left behind; return their names."""
    removed = []
    for entry in os.scandir(backup_dir):
        match = PARTIAL_RE.match(entry.name)
        if (
            match
            and entry.is_file(follow_symlinks=False)
            and is_stale(entry.path, int(match.group(1)))
        ):
            remove_quietly(entry.path)
            removed.append(entry.name)
    return removed


def source_bytes(db_path):
    """What a copy of the database needs: the file plus a WAL it may still have."""
    wal = db_path + "-wal"
    return os.path.getsize(db_path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


def free_bytes(path):
    return shutil.disk_usage(path).free


def check_free_space(backup_dir, needed):
    free = free_bytes(backup_dir)
    if free < needed:
        raise BackupDiskFull(backup_dir, needed, free, started=False)


def is_disk_full(exc):
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return (
            getattr(exc, "sqlite_errorcode", 0) or 0
        ) & 0xFF == _SQLITE_FULL or "disk is full" in str(exc)
    return False
