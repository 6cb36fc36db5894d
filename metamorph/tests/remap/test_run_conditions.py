"""A remap under real conditions: a full disk part-way, another process holding the file."""

import sqlite3
import subprocess
import sys

import pytest

from metamorph.errors import DiskFull, RemapStoppedPartway
from metamorph.remap import SplitByMapping, build_plan, execute_plan, intents, plan_status

from .helpers import journal_rows, mapping_csv, moved_per_journal, roots, snapshot, spread


def _disk_fills_after(monkeypatch, batches_that_fit):
    """Batches after the first `batches_that_fit` meet SQLite's "disk is full" mid-transaction
    (in the batch's own UPDATE of Metamorph's file)."""
    real, calls = intents.Intents.move, []

    def move(*args, **kwargs):
        calls.append(1)
        if len(calls) > batches_that_fit:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(intents.Intents, "move", move)
    return lambda: monkeypatch.setattr(intents.Intents, "move", real)


@pytest.fixture
def split(metamorph_db, tmp_path):
    db = metamorph_db("migrated")
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    return db, str(tmp_path / "journal.sqlite3"), plan


def test_a_full_disk_after_some_batches_says_what_moved_and_the_resume_command(split, monkeypatch):
    db, journal, plan = split
    before = snapshot(db)
    disk_freed = _disk_fills_after(monkeypatch, 2)
    with pytest.raises(RemapStoppedPartway) as stopped:
        execute_plan(db, plan, journal, batch_rows=10)
    status = plan_status(db, plan.plan_id, journal)
    assert status["state"] == "interrupted" and status["moved_rows"] > 0
    # The failed batch's rows, journaled ahead of it, are gone from the journal; the
    # journal says exactly what moved.
    assert journal_rows(journal, plan.plan_id, state=-1) == {}
    assert (
        len(moved_per_journal(before, snapshot(db), journal, plan.plan_id))
        == (status["moved_rows"])
    )
    message = str(stopped.value)
    assert "unchanged" not in message
    assert "The disk holding" in message
    assert f"{status['moved_rows']:,} rows had already moved" in message
    assert f"`python manage.py remapvaults --run {plan.plan_id}`" in message

    disk_freed()
    result = execute_plan(db, plan, journal, batch_rows=10)
    assert result["resumed"]
    assert plan_status(db, plan.plan_id, journal)["state"] == "completed"


def test_a_full_disk_at_the_first_batch_still_says_nothing_changed(split, monkeypatch):
    db, journal, plan = split
    before = snapshot(db)
    _disk_fills_after(monkeypatch, 0)
    with pytest.raises(DiskFull) as full:
        execute_plan(db, plan, journal, batch_rows=10)
    assert not isinstance(full.value, RemapStoppedPartway)
    assert "the database is unchanged" in str(full.value)
    assert snapshot(db) == before


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_remap_waits_for_metamorphs_writes_only_when_another_process_holds_the_file(split):
    # A 32-row remap spent 1.0 s "paused for Metamorph's writes" with no other process there.
    db, journal, plan = split
    alone = execute_plan(db, plan, journal)
    assert alone["lock"]["writer_assumed_at_start"] is False

    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "ready"
        beside = execute_plan(db, plan, journal)  # a completed plan re-applies its rule
        assert beside["lock"]["writer_assumed_at_start"] is True
    finally:
        other.stdin.close()
        other.wait(timeout=60)
