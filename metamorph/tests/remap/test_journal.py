"""Where the journal lives, and who may run a plan at a time."""

import os
import sqlite3

import pytest

from metamorph.errors import OfflineNeedsDowntime, PlanBusy, PlanNotInJournal, RemapJournalUnusable
from metamorph.remap import MoveVault, build_plan, execute_plan, plan_status, undo_plan
from metamorph.remap.journal import runner_lock
from metamorph.testing.lockers import Locker

from .helpers import snapshot


@pytest.fixture
def db(metamorph_db):
    return metamorph_db("migrated")


def test_the_journal_is_an_attached_file_and_the_metamorph_file_gains_no_table(db, tmp_path):
    journal = str(tmp_path / "j.sqlite3")
    result = execute_plan(db, build_plan(db, MoveVault("user-alice")), journal)
    assert result["journal"] == {"location": "attached-file", "path": journal}
    conn = sqlite3.connect(db)
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%remap%'").fetchall()
    j = sqlite3.connect(journal)
    assert j.execute("SELECT COUNT(*) FROM remap_journal").fetchone()[0] == result["moved_total"]


def test_a_wal_database_keeps_its_journal_inside_the_file_so_batches_stay_atomic(db, tmp_path):
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    before = snapshot(db)
    journal = str(tmp_path / "j.sqlite3")
    plan = build_plan(db, MoveVault("user-alice"))
    result = execute_plan(db, plan, journal, batch_rows=100)
    assert result["journal"]["location"] == "in-database"
    conn = sqlite3.connect(db)
    assert (
        conn.execute("SELECT COUNT(*) FROM metamorph_admin_remap_journal").fetchone()[0]
        == plan.moves_total
    )
    assert plan_status(db, plan.plan_id, journal)["state"] == "completed"
    undo_plan(db, plan.plan_id, journal)
    assert snapshot(db) == before


def test_the_journal_cannot_be_the_metamorph_file_itself(db):
    with pytest.raises(RemapJournalUnusable, match="it is the Metamorph database itself"):
        execute_plan(db, build_plan(db, MoveVault("user-alice")), db)


def test_a_journal_path_holding_another_kind_of_file_is_refused(db, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not sqlite")
    with pytest.raises(RemapJournalUnusable, match="it exists and is not an SQLite file"):
        execute_plan(db, build_plan(db, MoveVault("user-alice")), str(other))


def test_two_runs_on_one_journal_at_once_are_refused(db, tmp_path):
    journal = str(tmp_path / "j.sqlite3")
    plan = build_plan(db, MoveVault("user-alice"))
    with runner_lock(journal):
        with pytest.raises(PlanBusy, match="Another remap or undo is running"):
            execute_plan(db, plan, journal)
    assert plan_status(db, plan.plan_id, journal)["state"] == "unknown"


def test_undo_of_a_plan_that_never_ran_names_the_journal(db, tmp_path):
    with pytest.raises(PlanNotInJournal, match="has no record in the remap journal"):
        undo_plan(db, "rp-nope", str(tmp_path / "j.sqlite3"))


def test_offline_mode_refuses_while_another_process_holds_the_file(db, tmp_path):
    before = snapshot(db)
    with Locker(db, "BEGIN") as locker:
        with pytest.raises(OfflineNeedsDowntime) as err:
            execute_plan(
                db,
                build_plan(db, MoveVault("user-alice")),
                str(tmp_path / "j.sqlite3"),
                mode="offline",
            )
    assert f"process {locker.pid} is reading" in str(err.value)
    assert "Stop the Metamorph server" in str(err.value)
    assert snapshot(db) == before


def test_online_batches_wait_for_a_short_metamorph_write(db, tmp_path):
    import threading

    locker = Locker(db, "BEGIN IMMEDIATE")
    threading.Timer(0.5, locker.release).start()
    result = execute_plan(db, build_plan(db, MoveVault("user-alice")), str(tmp_path / "j.sqlite3"))
    assert result["moved_total"] > 0 and result["left_in_source"] == {}


def test_a_super_journal_left_by_a_killed_commit_is_removed_by_the_next_run(db, tmp_path):
    orphan = f"{db}-mj0123ABCD"
    open(orphan, "wb").close()
    execute_plan(db, build_plan(db, MoveVault("user-alice")), str(tmp_path / "j.sqlite3"))
    assert not os.path.exists(orphan)
