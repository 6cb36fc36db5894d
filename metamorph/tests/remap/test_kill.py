"""A remap killed (SIGKILL, a real process) mid-way: consistent, explained, resumable, undoable."""

import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from metamorph.remap import (
    SplitByMapping,
    build_plan,
    execute_plan,
    incomplete_plans,
    isolation_audit,
    plan_status,
    undo_plan,
)

from .helpers import (
    integrity,
    journal_rows,
    mapping_csv,
    moved_per_journal,
    roots,
    snapshot,
    spread,
)

DRIVER = os.path.join(os.path.dirname(__file__), "driver.py")


@pytest.fixture
def setup(metamorph_db, tmp_path):
    """A database, its journal path, a stored split plan, and the state an uninterrupted
    run of that plan reaches (computed on a copy)."""
    db = metamorph_db("migrated", optional_tables=True)
    journal = str(tmp_path / "journal.sqlite3")
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    reference = str(tmp_path / "reference.db")
    shutil.copyfile(db, reference)
    execute_plan(reference, plan, str(tmp_path / "reference-journal.sqlite3"))
    return db, journal, plan, str(plan_file), snapshot(reference)


def run_driver(db, plan_file, journal, kill_after=0, action="execute"):
    return subprocess.Popen(
        [sys.executable, DRIVER, db, plan_file, journal, str(kill_after), action],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_remap_killed_after_a_batch_leaves_a_consistent_state_that_resumes_and_undoes(setup):
    db, journal, plan, plan_file, reference = setup
    before = snapshot(db)
    proc = run_driver(db, plan_file, journal, kill_after=5)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    status = plan_status(db, plan.plan_id, journal)  # first reader after the kill
    assert integrity(db) == [("ok",)] and integrity(journal) == [("ok",)]
    done = moved_per_journal(before, snapshot(db), journal, plan.plan_id)
    assert 0 < len(done) < plan.moves_total
    # Killed after batch 5 committed, before the journal commit that confirms it: its rows
    # are journaled ahead (intents.py), and the status counts them from the file.
    assert journal_rows(journal, plan.plan_id, state=-1)

    assert status["state"] == "interrupted"
    assert status["moved_rows"] == len(done)
    assert status["remaining_rows"] == plan.moves_total - len(done)
    assert "Execute the same plan again to resume it, or undo it" in status["message"]
    audit = isolation_audit(db, journal)
    assert not audit["clean"]  # a half-done split splits components…
    assert [p["plan_id"] for p in audit["incomplete_plans"]] == [plan.plan_id]
    assert f"Plan {plan.plan_id} stopped after moving" in audit["explanation"]  # …explained

    result = execute_plan(db, plan, journal, batch_rows=50)
    assert result["resumed"] and result["moved_total"] == plan.moves_total - len(done)
    assert snapshot(db) == reference
    assert isolation_audit(db, journal)["clean"]
    assert incomplete_plans(db, journal) == []

    undo_plan(db, plan.plan_id, journal)
    assert snapshot(db) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_remap_killed_at_a_random_moment_never_splits_a_batch_from_its_journal(setup, seed):
    db, journal, plan, plan_file, reference = setup
    before = snapshot(db)
    proc = run_driver(db, plan_file, journal)
    for _ in range(2 + seed):
        assert proc.stdout.readline().startswith("batch")
    # Somewhere inside the next batches: during an UPDATE, a journal write or a commit.
    time.sleep(random.Random(seed).uniform(0, 0.01))
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert "finished" not in out, "the remap ended before the kill: nothing was tested"
    # The first reader may meet hot journals (a commit was cut): status still answers.
    assert plan_status(db, plan.plan_id, journal)["state"] == "interrupted"
    assert integrity(db) == [("ok",)] and integrity(journal) == [("ok",)]
    moved_per_journal(before, snapshot(db), journal, plan.plan_id)
    execute_plan(db, plan, journal)
    assert snapshot(db) == reference
    assert not glob.glob(db + "-mj*") and not os.path.exists(db + "-journal")


def test_undo_killed_midway_resumes_and_restores_every_row(setup):
    db, journal, plan, plan_file, _ = setup
    before = snapshot(db)
    execute_plan(db, plan, journal)
    proc = run_driver(db, plan_file, journal, kill_after=4, action="undo")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert integrity(db) == [("ok",)]
    status = plan_status(db, plan.plan_id, journal)
    assert status["state"] == "undo-interrupted" and status["undone_rows"] > 0
    # Killed after batch 4's restore committed, before the journal marked it: its rows are
    # marked ahead (RESTORING), and the status counts those back in their old vault.
    restoring = journal_rows(journal, plan.plan_id, state=-2)
    after = snapshot(db)
    assert restoring and all(after[key][1] == old for key, (_, old, _) in restoring.items())
    assert status["undone_rows"] == len(journal_rows(journal, plan.plan_id, state=1)) + len(
        restoring
    )
    assert "Run the undo again to finish it" in status["message"]
    undo_plan(db, plan.plan_id, journal)
    assert snapshot(db) == before
