"""Bad input and hostile conditions: clear errors naming cause and next step, nothing changed."""

import json
import os
import shutil
import sqlite3
import tempfile

import pytest

from metamorph.errors import (
    DatabaseLocked,
    DatabaseMissing,
    EmptyDatabase,
    InterruptedWrite,
    NotAMetamorphDatabase,
    NotSQLite,
)
from metamorph.migrate import runner
from metamorph.migrate.errors import MigrationFailed
from metamorph.testing.lockers import leave_hot_journal

from .helpers import LockHolder, fingerprint, run_driver, sql


def test_locked_database_fails_at_once_naming_the_holder_and_the_advice(metamorph_db):
    path = metamorph_db("legacy")
    before = fingerprint(path)
    with LockHolder(path) as holder:
        with pytest.raises(DatabaseLocked) as err:
            runner.run_migrations(path, busy_timeout=0.2)
    assert str(err.value) == (
        f"{path} is locked by another process (process {holder.pid} has an open write "
        "transaction). Wait for it to finish, or stop the Metamorph service (and any sqlite3 "
        "shell) that holds the file, then try again."
    )
    assert fingerprint(path) == before


def test_locked_database_also_stops_a_rollback_before_it_changes_anything(metamorph_db):
    path = metamorph_db("migrated")
    before = fingerprint(path)
    with LockHolder(path) as holder:
        with pytest.raises(DatabaseLocked) as err:
            runner.rollback(path, busy_timeout=0.2)
    assert f"process {holder.pid}" in str(err.value)
    assert fingerprint(path) == before


def test_a_reader_that_never_finishes_makes_the_commit_fail_and_roll_back(metamorph_db):
    path = metamorph_db("legacy")
    before = sql(path, "SELECT type, name, sql FROM sqlite_master")
    with LockHolder(path, "BEGIN") as reader:
        with pytest.raises(MigrationFailed) as err:
            runner.run_migrations(path, busy_timeout=0.2)
    message = str(err.value)
    assert message.startswith("Migration 001_add_vault_id failed at ")
    assert "was rolled back: the database is exactly as it was before this migration" in message
    assert f"process {reader.pid} is reading" in message
    assert "stop the Metamorph service" in message
    assert sql(path, "SELECT type, name, sql FROM sqlite_master") == before


def test_missing_file_is_named_and_no_file_is_created(tmp_path):
    path = tmp_path / "metamorph.db"
    with pytest.raises(DatabaseMissing) as err:
        runner.run_migrations(str(path))
    assert str(err.value).startswith(f"No Metamorph database at {path}.")
    assert not path.exists()


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "metamorph.db"
    path.write_text('{"sessions": []}\n' * 100)
    before = fingerprint(str(path))
    with pytest.raises(NotSQLite) as err:
        runner.run_migrations(str(path))
    assert "is not an SQLite database" in str(err.value)
    assert fingerprint(str(path)) == before


def test_an_sqlite_database_that_is_not_metamorphs_is_refused_untouched(tmp_path):
    path = str(tmp_path / "other.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.close()
    before = fingerprint(path)
    for call in (runner.run_migrations, runner.status, runner.plan, runner.rollback):
        with pytest.raises(NotAMetamorphDatabase) as err:
            call(path)
        assert "none of its tables (invoices) is one Metamorph creates" in str(err.value)
    assert fingerprint(path) == before


def test_an_empty_sqlite_database_is_refused_with_the_start_metamorph_advice(tmp_path):
    path = str(tmp_path / "empty.db")
    sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.close()
    with pytest.raises(EmptyDatabase) as err:
        runner.run_migrations(path)
    assert "start the Metamorph server once" in str(err.value)


def test_full_disk_during_an_index_build_rolls_back_and_says_to_free_space(
    metamorph_db, monkeypatch
):
    path = metamorph_db("legacy")
    before = fingerprint(path)[0]
    real_open = runner.open_writable

    def open_on_full_disk(*args, **kwargs):
        conn = real_open(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        # Room for schema_migrations (table and key: 2 pages), none for any index.
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(runner, "open_writable", open_on_full_disk)
    with pytest.raises(MigrationFailed) as err:
        runner.run_migrations(path)
    message = str(err.value)
    assert "Migration 001_add_vault_id failed at `CREATE INDEX" in message
    assert "is full" in message and "Free space" in message
    assert fingerprint(path)[0] == before
    assert not os.path.exists(f"{path}-journal")


@pytest.fixture
def shared_dir():
    """A directory `nobody` can reach (pytest's tmp_path sits under a root-only folder)."""
    path = tempfile.mkdtemp(prefix="mm-readonly-")
    os.chmod(path, 0o755)
    yield path
    os.chmod(path, 0o755)
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to the nobody user")
@pytest.mark.parametrize("mode", ["checked", "sqlite"])
def test_read_only_file_is_refused_with_the_permissions_advice(metamorph_db, shared_dir, mode):
    path = os.path.join(shared_dir, "metamorph.db")
    shutil.copyfile(metamorph_db("legacy"), path)
    os.chmod(path, 0o444)
    before = fingerprint(path)
    outcome = json.loads(run_driver("as_nobody_driver.py", path, mode).stdout)
    # SQLite itself lets BEGIN IMMEDIATE through and refuses the first write, inside the
    # migration's transaction: MigrationFailed, whose cause is the read-only error.
    assert outcome["error"] == ("ReadOnlyDatabase" if mode == "checked" else "MigrationFailed")
    assert f"{path} cannot be written (" in outcome["message"]
    assert "Nothing was changed. Run metamorph-admin as a user that may write" in outcome["message"]
    assert fingerprint(path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to the nobody user")
def test_read_only_directory_is_refused_because_no_journal_can_be_created(metamorph_db, shared_dir):
    path = os.path.join(shared_dir, "metamorph.db")
    shutil.copyfile(metamorph_db("legacy"), path)
    os.chmod(path, 0o666)
    os.chmod(shared_dir, 0o555)
    before = fingerprint(path)
    outcome = json.loads(run_driver("as_nobody_driver.py", path, "checked").stdout)
    assert outcome["error"] == "ReadOnlyDatabase"
    assert f"its directory {shared_dir} is not writable" in outcome["message"]
    assert fingerprint(path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to the nobody user")
def test_read_only_directory_met_by_sqlite_itself_rolls_back_with_the_same_advice(
    metamorph_db, shared_dir
):
    path = os.path.join(shared_dir, "metamorph.db")
    shutil.copyfile(metamorph_db("legacy"), path)
    os.chmod(path, 0o666)
    os.chmod(shared_dir, 0o555)
    before = fingerprint(path)
    outcome = json.loads(run_driver("as_nobody_driver.py", path, "sqlite").stdout)
    assert outcome["error"] in ("MigrationFailed", "ReadOnlyDatabase")
    assert "cannot be written" in outcome["message"]
    assert fingerprint(path) == before


def test_an_interrupted_write_blocks_reading_with_advice_and_a_run_recovers(metamorph_db):
    path = metamorph_db("legacy")
    assert leave_hot_journal(path) == -9 and os.path.exists(f"{path}-journal")
    with pytest.raises(InterruptedWrite) as err:
        runner.status(path)
    assert "do not delete the -journal file" in str(err.value)
    runner.run_migrations(path)
    assert [r["applied"] for r in runner.status(path)] == [True, True]
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE content LIKE '%!'") == [(0,)]
