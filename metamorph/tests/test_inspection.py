"""Counts, health and the read-only promise, against real files."""

import hashlib
import os
import sqlite3

import pytest

from conftest import sql
from metamorph import errors, inspect
from metamorph.connection import lock_state, open_readonly, time_limit
from metamorph.report import build_report, full_snapshot
from metamorph.testing.lockers import Locker


def counts_of(path, **kw):
    with open_readonly(path) as conn:
        return inspect.vault_row_counts(conn, **kw)


def test_counts_per_vault_equal_a_direct_group_by(metamorph_db):
    path = metamorph_db("migrated", vaults=6)
    counts = counts_of(path)
    for table in ("messages", "sessions", "semantic_memory", "sandboxes"):
        expected = dict(sql(path, f"SELECT vault_id, COUNT(*) FROM {table} GROUP BY 1"))
        assert counts["tables"][table]["by_vault"] == expected
    assert counts["distinct_vaults"] == len(sql(path, "SELECT DISTINCT vault_id FROM messages"))
    assert counts["complete"] is True


def test_legacy_tables_are_not_migrated_with_their_total_and_absent_ones_listed(metamorph_db):
    path = metamorph_db("legacy")
    counts = counts_of(path)
    messages = counts["tables"]["messages"]
    assert messages["state"] == "not-migrated"
    assert messages["total"] == sql(path, "SELECT COUNT(*) FROM messages")[0][0]
    assert counts["tables"]["steering_messages"]["state"] == "absent"
    assert counts["vaults"] == []


def test_rows_with_null_or_empty_vault_are_counted_apart(metamorph_db):
    path = metamorph_db("migrated")
    sql_conn = sqlite3.connect(path)
    sql_conn.execute("UPDATE messages SET vault_id = '' WHERE rowid IN (1, 2, 3)")
    sql_conn.commit()
    sql_conn.close()
    counts = counts_of(path)
    assert counts["tables"]["messages"]["blank_vault"] == 3
    assert "" not in counts["tables"]["messages"]["by_vault"]
    assert counts["blank_vault_rows"] == 3


def test_a_count_that_runs_out_of_time_reports_a_lower_bound(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, timestamp, vault_id) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 400000) "
        "SELECT 'bulk-' || i, 'c', 'user', 'x', 't', 'v' || (i % 50) FROM n"
    )
    conn.commit()
    conn.close()
    counts = counts_of(path, seconds=0.002)
    assert counts["complete"] is False
    messages = counts["tables"]["messages"]
    assert messages["partial"] is True
    assert messages["total"] == inspect.LOWER_BOUND_ROWS


def test_time_limit_interrupts_a_runaway_query_with_a_clear_message(metamorph_db):
    conn = open_readonly(metamorph_db("legacy"))
    with pytest.raises(errors.QueryTimedOut, match="stopped so the page stays responsive"):
        with time_limit(conn, 0.1, "Counting forever"):
            conn.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT COUNT(*) FROM c"
            ).fetchone()
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is still usable


def test_inspection_never_writes_to_the_file(metamorph_db):
    path = metamorph_db("autoupgraded")
    before = (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.stat(path).st_mtime_ns)
    snap = full_snapshot(path)
    build_report(path, counts=snap["counts"], integrity=snap["integrity"], sizes=snap["sizes"])
    build_report(path, count_seconds=0.5)
    after = (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.stat(path).st_mtime_ns)
    assert before == after
    assert not os.path.exists(path + "-journal")


def test_readonly_connection_refuses_writes(metamorph_db):
    conn = open_readonly(metamorph_db("legacy"))
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM messages")


def test_health_reports_journal_mode_pages_and_applied_migrations(metamorph_db):
    path = metamorph_db("migrated")
    report = build_report(path)
    health = report["health"]
    assert health["journal_mode"] == "delete"
    assert health["page_count"] * health["page_size"] == os.path.getsize(path)
    assert [m["id"] for m in health["applied_migrations"]] == [
        "001_add_vault_id",
        "002_add_vercel_sandbox_tables",
    ]
    assert health["lock"]["held"] is False


def test_snapshot_runs_quick_check_and_measures_index_sizes(metamorph_db):
    snap = full_snapshot(metamorph_db("migrated"))
    assert snap["integrity"]["ok"] is True
    assert snap["sizes"]["idx_messages_vault_conversation"] > 0


def test_a_writer_holding_the_database_is_named_by_pid(metamorph_db):
    path = metamorph_db("migrated")
    with Locker(path) as locker:
        assert lock_state(path).writer == locker.pid
        report = build_report(path)
        finding = [f for f in report["checks"] if f["id"] == "database_locked"][0]
        assert finding["status"] == "error"
        assert f"process {locker.pid} has an open write transaction" in finding["detail"]
        assert "Stop that process" in finding["fix"]
    assert lock_state(path).held is False


def test_an_exclusive_lock_gives_a_clear_locked_error_not_a_hang(metamorph_db):
    path = metamorph_db("migrated")
    with Locker(path, "BEGIN EXCLUSIVE") as locker:
        with pytest.raises(errors.DatabaseLocked) as caught:
            open_readonly(path, timeout=0.2)
    assert f"process {locker.pid}" in str(caught.value)
    assert "stop the Metamorph service" in str(caught.value)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda p: None, errors.DatabaseMissing, "No Metamorph database at"),
        (lambda p: os.mkdir(p), errors.NotAFile, "is a directory"),
        (
            lambda p: open(p, "w").write('{"sessions": []}' * 10),
            errors.NotSQLite,
            "not an SQLite database",
        ),
        (lambda p: open(p, "w").close(), errors.EmptyDatabase, "empty SQLite database"),
        (
            lambda p: sqlite3.connect(p).execute("PRAGMA user_version = 1"),
            errors.EmptyDatabase,
            "no tables",
        ),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE invoices (id)"),
            errors.NotAMetamorphDatabase,
            "not Metamorph's",
        ),
    ],
)
def test_bad_files_give_a_message_naming_cause_and_fix(tmp_path, make, error, words):
    path = str(tmp_path / "metamorph.db")
    make(path)
    with pytest.raises(error, match=words) as caught:
        build_report(path)
    assert "METAMORPH_DATABASE_PATH" in str(caught.value) or "Metamorph" in str(caught.value)


def test_a_corrupt_sqlite_file_is_reported_as_not_a_database(metamorph_db):
    path = metamorph_db("legacy")
    with open(path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff" * 4000)  # smash the schema page behind a valid header
    with pytest.raises(errors.MetamorphError):
        build_report(path)
