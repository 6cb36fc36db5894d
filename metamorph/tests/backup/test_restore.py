"""restore_backup: only a verified backup, never under a writer, all-or-nothing, WAL-safe."""

import os
import sqlite3

import pytest

from metamorph import backup
from metamorph.errors import BackupNotVerified, DatabaseInUse, DatabaseLocked, RestoreNotVerified

from .conftest import integrity, killed, run_driver, sha256, table_counts
from .test_list_verify import flip_byte


def change_live(path):
    """What happens after a backup: rows deleted and added, so old and new content differ."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM messages WHERE rowid % 3 = 0")
        conn.execute("DELETE FROM sessions WHERE rowid % 2 = 0")
        conn.execute(
            "INSERT INTO conversations (id, stance, config, created_at, updated_at) "
            "VALUES ('after-backup', '{}', '{}', 'now', 'now')"
        )
    conn.close()
    return table_counts(path)


@pytest.fixture
def backed_up(source, backup_dir):
    """(backup result, counts at backup time, counts of the live file now)."""
    result = backup.run_backup(source, backup_dir)
    at_backup = table_counts(source)
    return result, at_backup, change_live(source)


def test_restore_brings_back_the_backups_rows_and_keeps_a_safety_backup(
    source, backup_dir, backed_up
):
    made, at_backup, before_restore = backed_up

    result = backup.restore_backup(source, backup_dir, made["name"])
    assert table_counts(source) == at_backup == result["row_counts"]
    assert integrity(source) == ["ok"]
    safety = next(
        e for e in backup.list_backups(backup_dir) if e["name"] == result["safety_backup"]
    )
    assert safety["label"] == "pre-restore" and safety["state"] == "verified"
    assert table_counts(safety["path"]) == before_restore


def test_restore_of_a_compressed_backup(source, backup_dir):
    made = backup.run_backup(source, backup_dir, compress=True)
    at_backup = table_counts(source)
    change_live(source)

    backup.restore_backup(source, backup_dir, made["name"], safety_backup=False)
    assert table_counts(source) == at_backup
    assert not [n for n in os.listdir(backup_dir) if n.startswith(".")]


def test_restore_refuses_a_tampered_backup_and_changes_nothing(source, backup_dir, backed_up):
    made = backed_up[0]
    flip_byte(made["path"], 63)
    before = sha256(source)

    with pytest.raises(BackupNotVerified) as err:
        backup.restore_backup(source, backup_dir, made["name"])
    assert "the file changed after it was written" in str(err.value)
    assert "`python manage.py listbackups`" in str(err.value)
    assert sha256(source) == before
    assert len(backup.list_backups(backup_dir)) == 1  # no safety backup was taken


def test_restore_refuses_a_backup_without_its_manifest(source, backup_dir, backed_up):
    made = backed_up[0]
    os.unlink(made["manifest_path"])

    with pytest.raises(BackupNotVerified) as err:
        backup.restore_backup(source, backup_dir, made["name"])
    assert "has no valid manifest" in str(err.value)


def test_restore_is_refused_while_another_process_holds_a_write_lock(
    source, backup_dir, backed_up, background
):
    made = backed_up[0]
    holder = background("hold", source, ready="locked")
    before = sha256(source)

    with pytest.raises(DatabaseInUse) as err:
        backup.restore_backup(source, backup_dir, made["name"])
    message = str(err.value)
    assert f"pid {holder.pid} (" in message and "driver.py hold" in message
    assert "Restore is a downtime operation" in message and "Stop Metamorph first" in message
    assert sha256(source) == before and len(backup.list_backups(backup_dir)) == 1


def test_restore_is_refused_while_a_wal_writer_holds_the_database(
    source, backup_dir, backed_up, background
):
    made = backed_up[0]
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    holder = background("hold", source, ready="locked")

    with pytest.raises(DatabaseInUse) as err:
        backup.restore_backup(source, backup_dir, made["name"])
    assert f"pid {holder.pid} (" in str(err.value)
    assert "-wal" in str(err.value) and "-shm" in str(err.value)


def test_restore_into_a_wal_database_ignores_its_stale_wal(source, backup_dir):
    made = backup.run_backup(source, backup_dir)
    at_backup = table_counts(source)
    metamorph = sqlite3.connect(source, isolation_level=None)
    metamorph.execute("PRAGMA journal_mode=WAL")
    metamorph.execute("PRAGMA wal_autocheckpoint=0")
    metamorph.execute("DELETE FROM messages")  # committed, but only in the -wal
    assert os.path.getsize(source + "-wal") > 0

    result = backup.restore_backup(source, backup_dir, made["name"], safety_backup=False)
    assert result["journal_mode"] == "wal"
    seen_by_metamorph = metamorph.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert seen_by_metamorph == at_backup["messages"]
    metamorph.close()
    assert table_counts(source) == at_backup and integrity(source) == ["ok"]


def _wal(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def _right_after_the_commit(source, statement):
    """A progress callable that writes as another connection the moment the restore committed
    (in WAL mode the last step commits and releases the lock before reporting)."""

    def progress(phase, done, total, message=""):
        if phase == "restore" and done == total:
            conn = sqlite3.connect(source)
            with conn:
                conn.execute(statement)
            conn.close()

    return progress


def test_rows_written_right_after_the_restore_are_reported_as_new(source, backup_dir, backed_up):
    made, at_backup, _ = backed_up
    _wal(source)

    insert = (
        "INSERT INTO conversations (id, stance, config, created_at, updated_at) "
        "VALUES ('sneaked-in', '{}', '{}', 'now', 'now')"
    )
    result = backup.restore_backup(
        source, backup_dir, made["name"], progress=_right_after_the_commit(source, insert)
    )
    assert result["new_rows"] == {"conversations": 1}
    assert "1 rows were written by another process right after the restore" in result["message"]
    assert f"safety backup {result['safety_backup']}" in result["message"]


def test_rows_missing_right_after_the_restore_fail_it_naming_the_safety_backup(
    source, backup_dir, backed_up
):
    made, at_backup, _ = backed_up
    _wal(source)

    delete = "DELETE FROM conversations WHERE rowid IN (SELECT rowid FROM conversations LIMIT 2)"
    with pytest.raises(RestoreNotVerified) as err:
        backup.restore_backup(
            source, backup_dir, made["name"], progress=_right_after_the_commit(source, delete)
        )
    message = str(err.value)
    assert (
        f"conversations: {at_backup['conversations'] - 2} rows, backup has "
        f"{at_backup['conversations']}"
    ) in message
    assert "python manage.py restorebackup metamorph-backup-" in message


@pytest.mark.parametrize("point", ["restore:60", "restore:120"])
def test_restore_killed_midway_leaves_the_old_database(source, backup_dir, backed_up, point):
    made, _, before_restore = backed_up

    proc = run_driver(
        "restore", source, backup_dir, made["name"], "--kill-at", point, "--step-pages", "16"
    )
    assert killed(proc), proc.stderr
    # The restore had really started overwriting the live file: its undo journal is there.
    assert os.path.getsize(source + "-journal") > 0
    assert integrity(source) == ["ok"]  # the first writer rolls the journal back
    assert table_counts(source) == before_restore


def test_restore_killed_right_after_its_commit_leaves_the_restored_database(
    source, backup_dir, backed_up
):
    made, at_backup, _ = backed_up

    proc = run_driver(
        "restore",
        source,
        backup_dir,
        made["name"],
        "--kill-at",
        "restore:final",
        "--step-pages",
        "16",
    )
    assert killed(proc), proc.stderr
    assert integrity(source) == ["ok"]
    assert table_counts(source) == at_backup


def test_restore_killed_during_its_safety_backup_leaves_the_database_untouched(
    source, backup_dir, backed_up
):
    made = backed_up[0]
    before = sha256(source)

    proc = run_driver(
        "restore",
        source,
        backup_dir,
        made["name"],
        "--kill-at",
        "safety-backup:3",
        "--step-pages",
        "16",
    )
    assert killed(proc), proc.stderr
    assert sha256(source) == before
    assert [e["name"] for e in backup.list_backups(backup_dir)] == [made["name"]]


def test_restore_again_after_a_killed_restore_finishes_the_job(source, backup_dir, backed_up):
    made, at_backup, _ = backed_up
    assert killed(
        run_driver(
            "restore",
            source,
            backup_dir,
            made["name"],
            "--kill-at",
            "restore:100",
            "--step-pages",
            "16",
        )
    )
    assert os.path.exists(source + "-journal")

    backup.restore_backup(source, backup_dir, made["name"])
    assert table_counts(source) == at_backup and integrity(source) == ["ok"]


def test_backup_of_a_file_a_killed_writer_left_half_written_is_refused_untouched(
    source, backup_dir, backed_up
):
    from metamorph.errors import InterruptedWrite

    made = backed_up[0]
    assert killed(
        run_driver(
            "restore",
            source,
            backup_dir,
            made["name"],
            "--kill-at",
            "restore:100",
            "--step-pages",
            "16",
        )
    )
    before = (sha256(source), sha256(source + "-journal"))

    with pytest.raises(InterruptedWrite) as err:
        backup.run_backup(source, backup_dir)
    assert "do not delete the -journal file" in str(err.value)
    assert (sha256(source), sha256(source + "-journal")) == before
    assert not [n for n in os.listdir(backup_dir) if n.startswith(".")]


def test_restore_gives_up_on_a_reader_that_never_finishes_and_changes_nothing(
    source, backup_dir, backed_up, background, monkeypatch
):
    from metamorph.backup import restore as backup_restore

    monkeypatch.setattr(backup_restore, "RESTORE_BUSY_SECONDS", 0.5)
    made, _, before_restore = backed_up
    reader = background("read", source, ready="reading")

    with pytest.raises(DatabaseLocked) as err:
        backup.restore_backup(source, backup_dir, made["name"], safety_backup=False, force=True)
    assert f"process {reader.pid} is reading" in str(err.value)
    reader.stop()
    assert integrity(source) == ["ok"] and table_counts(source) == before_restore


def test_restore_into_a_wal_database_with_another_page_size(tmp_path, backup_dir):
    source, live = str(tmp_path / "big-pages.db"), str(tmp_path / "live.db")
    for path, page_size, row in ((source, 8192, "from-backup"), (live, 4096, "live")):
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA page_size={page_size}")
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO sessions VALUES (?)", (row,))
        conn.commit()
        conn.close()
    sqlite3.connect(live).execute("PRAGMA journal_mode=WAL").fetchone()
    made = backup.run_backup(source, backup_dir)

    result = backup.restore_backup(live, backup_dir, made["name"], safety_backup=False)
    conn = sqlite3.connect(live)
    assert conn.execute("SELECT id FROM sessions").fetchall() == [("from-backup",)]
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 8192
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert result["journal_mode"] == "wal"
