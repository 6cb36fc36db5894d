"""processes_holding: who has a Metamorph file open or locked, from the kernel's own tables."""

import sqlite3

from metamorph.holders import processes_holding
from metamorph.testing.lockers import Locker


def _by_pid(path):
    return {h.pid: h for h in processes_holding(path).processes}


def test_nobody_holds_a_quiet_file_and_this_process_never_counts(metamorph_db):
    path = metamorph_db("legacy")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # our own lock and descriptor are not "another process"
    try:
        assert not processes_holding(path)
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_writer_is_named_with_its_open_file_its_lock_and_its_command_line(metamorph_db):
    path = metamorph_db("legacy")
    with Locker(path) as locker:
        holder = _by_pid(path)[locker.pid]
        conn = sqlite3.connect(path, isolation_level=None)  # our own connection stays untouched
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] > 0
        conn.close()
    name = path.rsplit("/", 1)[1]
    assert name in holder.files and name in holder.locks
    assert "python -c import sqlite3" in holder.command and "\n" not in holder.command
    assert f"pid {locker.pid} (" in holder.describe()
    assert not processes_holding(path)


def test_a_wal_connection_is_named_by_its_shared_memory_lock(metamorph_db):
    path = metamorph_db("legacy")
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchone()
    with Locker(path, "BEGIN") as reader:
        holder = _by_pid(path)[reader.pid]
    name = path.rsplit("/", 1)[1]
    assert f"{name}-shm" in holder.locks and f"{name}-wal" in holder.files
