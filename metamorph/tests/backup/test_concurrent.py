"""A backup taken while Metamorph keeps writing is consistent, and finishes."""

import sqlite3
import time

import pytest

from metamorph import backup
from metamorph.backup import copy as backup_copy

from .conftest import integrity


def writer_transactions_are_whole(path):
    """Every conversation the writer committed has its 3 messages: no torn transaction."""
    conn = sqlite3.connect(path)
    try:
        convs = conn.execute(
            "SELECT COUNT(*) FROM conversations WHERE id LIKE 'writer-%'"
        ).fetchone()[0]
        messages = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE conversation_id LIKE 'writer-%'"
        ).fetchone()[0]
    finally:
        conn.close()
    return convs, messages == 3 * convs


def slow_copy(phase, done, total, message=""):
    if phase == "copy":
        time.sleep(0.002)  # let the writer commit between the copy's steps


@pytest.fixture
def small_steps(monkeypatch):
    """The backup API's stepwise copy, in small steps (the kernel copy is tested below)."""
    monkeypatch.setattr(backup_copy, "COPY_STEP_PAGES", 8)
    monkeypatch.setattr(backup_copy, "file_copy", lambda *args: None)


def test_backup_while_another_process_writes_restarts_and_stays_consistent(
    source, backup_dir, background, small_steps
):
    writer = background("write", source, ready="writing")

    result = backup.run_backup(source, backup_dir, progress=slow_copy)
    assert writer.alive()  # its 5 s busy timeout was never exhausted
    writer.stop()
    assert result["copy_restarts"] >= 1  # the writer really changed the file mid-copy
    assert result["copy_mode"] == ("read-lock" if result["copy_restarts"] >= 3 else "steps")
    convs, whole = writer_transactions_are_whole(result["path"])
    assert convs >= 1 and whole
    assert integrity(result["path"]) == ["ok"]
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"


def test_backup_of_a_wal_database_reads_one_snapshot_without_restarting(
    source, backup_dir, background, small_steps
):
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    writer = background("write", source, ready="writing")

    result = backup.run_backup(source, backup_dir, progress=slow_copy)
    assert writer.alive()
    writer.stop()
    assert result["copy_restarts"] == 0 and result["copy_mode"] == "wal-snapshot"
    convs, whole = writer_transactions_are_whole(result["path"])
    assert convs >= 1 and whole
    assert backup.verify_backup(backup_dir, result["name"])["state"] == "ok"
