"""Bad input and hostile environments: each a clear error naming the fix, nothing left behind."""

import os
import subprocess

import pytest

from metamorph import backup
from metamorph.backup import copy as backup_copy
from metamorph.errors import (
    BackupDirUnusable,
    BackupDiskFull,
    BackupInvalidOption,
    DatabaseMissing,
    NotSQLite,
)

from .conftest import sha256


def test_missing_source_is_refused_with_the_setting_to_fix(tmp_path, backup_dir):
    with pytest.raises(DatabaseMissing) as err:
        backup.run_backup(str(tmp_path / "nope.db"), backup_dir)

    assert "nope.db" in str(err.value) and "METAMORPH_DATABASE_PATH" in str(err.value)
    assert not os.path.exists(backup_dir)


def test_source_that_is_not_sqlite_is_refused(tmp_path, backup_dir):
    fake = tmp_path / "metamorph.db"
    fake.write_text('{"sessions": []}')

    with pytest.raises(NotSQLite) as err:
        backup.run_backup(str(fake), backup_dir)
    assert "is not an SQLite database" in str(err.value)


def test_backup_dir_under_a_regular_file_is_refused(source, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")

    with pytest.raises(BackupDirUnusable) as err:
        backup.run_backup(source, str(blocker / "backups"))
    assert "cannot be created (Not a directory)" in str(err.value)
    assert "METAMORPH_BACKUP_DIR" in str(err.value)


def test_backup_dir_that_is_a_file_is_refused(source, tmp_path):
    blocker = tmp_path / "backups"
    blocker.write_text("x")

    with pytest.raises(BackupDirUnusable) as err:
        backup.run_backup(source, str(blocker))
    assert "it exists and is not a directory" in str(err.value)


def test_backup_dir_where_even_root_cannot_create_files_is_refused(source):
    # /proc exists and passes os.access for root, but no file can be created in it.
    with pytest.raises(BackupDirUnusable) as err:
        backup.run_backup(source, "/proc")
    assert "no file can be created in it" in str(err.value)


def test_keep_zero_is_refused_before_anything_is_written(source, backup_dir):
    with pytest.raises(BackupInvalidOption) as err:
        backup.run_backup(source, backup_dir, keep=0)
    assert "newest verified backup is never deleted" in str(err.value)
    assert not os.path.exists(backup_dir)


@pytest.fixture
def small_disk(tmp_path):
    """A real tmpfs of a given size (tests run as root); skipped where mounting is refused."""
    mounts = []

    def mount(size):
        point = tmp_path / f"disk-{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_disk_too_small_for_a_copy_is_refused_before_writing(source, small_disk):
    disk = small_disk("1m")
    before = sha256(source)

    with pytest.raises(BackupDiskFull) as err:
        backup.run_backup(source, str(disk / "backups"))
    message = str(err.value)
    assert "it needs about" in message and "MB is free. Nothing was written" in message
    assert os.listdir(disk / "backups") == [] and sha256(source) == before


def test_disk_filling_up_during_the_copy_removes_the_partial_file(source, small_disk, monkeypatch):
    size = os.path.getsize(source)
    disk = small_disk(f"{size + 3 * 1024 * 1024}")
    target = disk / "backups"
    monkeypatch.setattr(backup_copy, "COPY_STEP_PAGES", 64)

    def another_writer_fills_the_disk(phase, done, total, message=""):
        filler = disk / "other-program.log"
        if phase == "copy" and done and not filler.exists():
            with open(filler, "wb") as fh:
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                except OSError:
                    pass  # the disk is now full: a real ENOSPC for the backup's next write

    with pytest.raises(BackupDiskFull) as err:
        backup.run_backup(source, str(target), progress=another_writer_fills_the_disk)
    assert "it needs about" in str(err.value) and "The partial copy was removed" in str(err.value)
    assert os.listdir(target) == []
    assert backup.list_backups(str(target)) == []
