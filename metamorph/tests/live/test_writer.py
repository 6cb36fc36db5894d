"""The writer harness itself: it writes what Metamorph writes, and its logs tell the truth."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import sql
from metamorph.testing.lockers import Locker
from metamorph.testing.writer import WRITTEN_TABLES, set_journal_mode


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_every_logged_commit_is_in_the_file_in_default_vault(metamorph_db, metamorph_writer, mode):
    db = metamorph_db(state="migrated")
    set_journal_mode(db, mode)
    writer = metamorph_writer(db)
    writer.wait_for_commits(30)
    report = writer.stop()

    assert report.errors == [] and report.returncode == 0
    assert report.commits >= 30
    assert {c.table for c in report.committed} == set(WRITTEN_TABLES)
    assert report.missing_from(db) == []
    ids = [c.id for c in report.committed if c.table == "semantic_memory"]
    vaults = sql(
        db,
        f"SELECT DISTINCT vault_id FROM semantic_memory WHERE id IN ({','.join('?' * len(ids))})",
        ids,
    )
    assert vaults == [("default-vault",)]
    assert sql(db, "PRAGMA journal_mode")[0][0] == mode


def test_writes_the_observed_shape_sessions_named_by_their_conversation(
    metamorph_db, metamorph_writer
):
    db = metamorph_db(state="legacy", shape="observed")
    writer = metamorph_writer(db)
    writer.wait_for_commits(25)
    report = writer.stop()

    sessions = {c.id for c in report.committed if c.table == "sessions"}
    arcs = {c.id for c in report.committed if c.table == "emotional_arcs"}
    assert sessions and sessions == arcs  # one id per conversation, no conversations row
    placeholders = ",".join("?" * len(sessions))
    assert sql(
        db,
        f"SELECT COUNT(*) FROM sessions WHERE id IN ({placeholders}) AND conversation_id IS NULL",
        list(sessions),
    )[0][0] == len(sessions)
    assert sql(db, "SELECT COUNT(*) FROM conversations")[0][0] == 0
    assert report.missing_from(db) == []


def test_vault_column_added_mid_run_is_written_from_then_on(metamorph_db, metamorph_writer):
    db = metamorph_db(state="legacy")
    writer = metamorph_writer(db, vault="live-vault", tables=["semantic_memory"])
    writer.wait_for_commits(5)
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "ALTER TABLE semantic_memory ADD COLUMN vault_id TEXT NOT NULL DEFAULT 'default-vault'"
    )
    conn.execute("COMMIT")
    conn.close()
    added_at = time.time()
    writer.wait_for_commits(5)
    report = writer.stop()

    assert report.errors == []
    after = [c.id for c in report.committed if c.at > added_at]
    before = [c.id for c in report.committed if c.at < added_at - 0.05]
    assert after and before
    assert {
        v
        for (v,) in sql(
            db,
            f"SELECT vault_id FROM semantic_memory WHERE id IN ({','.join('?' * len(after))})",
            after,
        )
    } == {"live-vault"}
    # Rows committed before the column existed get the column's default.
    assert {
        v
        for (v,) in sql(
            db,
            f"SELECT vault_id FROM semantic_memory WHERE id IN ({','.join('?' * len(before))})",
            before,
        )
    } == {"default-vault"}


def test_a_held_lock_shows_as_a_wait_and_a_lock_beyond_5_s_as_an_error(
    metamorph_db, metamorph_writer
):
    db = metamorph_db(state="legacy")
    writer = metamorph_writer(db)
    with Locker(db):
        time.sleep(0.4)
    writer.wait_for_commits(3)
    assert writer.snapshot().max_wait >= 0.3
    assert writer.snapshot().errors == []

    with Locker(db):
        time.sleep(5.6)
    writer.wait_for_commits(3)
    report = writer.stop()
    assert report.errors and "database is locked" in report.errors[0][3]
    assert report.max_wait >= 4.9
    assert report.missing_from(db) == []  # what it logged as committed really is there


def test_command_line_runs_for_a_duration_and_writes_its_summary(metamorph_db, tmp_path):
    db = metamorph_db(state="migrated")
    logs = tmp_path / "logs"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metamorph.testing.writer",
            db,
            str(logs),
            "--duration",
            "0.5",
            "--journal-mode",
            "wal",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((logs / "summary.json").read_text())
    committed = (logs / "committed.tsv").read_text().splitlines()
    assert summary["commits"] == len(committed) > 5 and summary["errors"] == 0
    assert len((logs / "waits.tsv").read_text().splitlines()) == summary["transactions"]
    assert sql(db, "PRAGMA journal_mode")[0][0] == "wal"


def test_command_line_refuses_unknown_tables_clearly(metamorph_db, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metamorph.testing.writer",
            metamorph_db(),
            str(tmp_path),
            "--tables",
            "messages",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "does not write messages" in done.stderr
