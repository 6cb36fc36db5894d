"""An agent SIGKILLed in the middle of a backup, a migration and a remap, beside a process that
writes the file as Metamorph does: the job shows interrupted naming the dead agent, its lock is
released, the restarted agent runs the job again to its end (a migration rolled back by SQLite's
journal or committed whole, a remap resumed from its journal), the file passes integrity_check
and every commit of the writer is in it. On both data shapes of a real deployment."""

import json
import os
import shutil
import signal
import sqlite3

import pytest

from metamorph.migrate import runner
from metamorph.remap import SplitByMapping, build_plan, execute_plan, plan_status
from metamorph.remap.journal import default_journal_path
from metamorph.tests.remap.helpers import (
    SOURCE,
    mapping_csv,
    moved_per_journal,
    snapshot,
    spread,
)
from metamorph_admin.tests.hosts import ENQUEUE, freeze_while, job_row, locks_held, wait_for

pytestmark = pytest.mark.dashboard_db
SHAPES = ["linked", "observed"]
MIGRATIONS = ("001_add_vault_id", "002_add_vercel_sandbox_tables")
ATTEMPTS = 5  # each on a fresh file: a migration or a remap that ended first is not redone

PREVIEW = """
import json, sys, django
django.setup()
from metamorph.remap import SplitByMapping
from vaults.services import remap
rule = SplitByMapping.from_csv(open(sys.argv[2], "rb").read())
print(json.dumps({"plan": remap.preview(sys.argv[1], rule, "admin-user").plan_id}))
"""


def integrity(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def pad(path, table, rows):
    """More rows for the job to work through, so that a kill can land inside it."""
    conn = sqlite3.connect(path)
    with conn:
        if table == "zz_test_padding":
            conn.execute("CREATE TABLE zz_test_padding (b BLOB)")
            conn.executemany(
                "INSERT INTO zz_test_padding VALUES (randomblob(4194304))", [()] * rows
            )
        else:
            conn.executemany(
                "INSERT INTO semantic_memory (id, type, content, importance, decay, timestamp) "
                "VALUES (?, 'episodic', 'padding', 0.5, 1.0, '2026-01-01T00:00:00.000Z')",
                ((f"padding-{i:08d}",) for i in range(rows)),
            )
    conn.close()


def enqueue(hosts, kind, params=None, role="operator"):
    queued = hosts["python"](ENQUEUE, "production", kind, json.dumps(params or {}), role)
    assert "job" in queued, queued
    return queued["job"]


def kill_mid_job(hosts, kind, params, role, in_progress):
    """Start the agent and the job, SIGKILL the agent once the job's row shows it in progress;
    (job id, killed agent) or None when the job ended first."""
    url = hosts["env"]["DATABASE_URL"]
    agent = hosts["start"]("production")
    job = enqueue(hosts, kind, params, role)
    caught = freeze_while(agent, url, job, in_progress)
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=30)
    return (job, agent) if caught else None


def restart_and_check_interrupted(hosts, job, killed):
    """The restarted agent reaps what the killed one left: interrupted, no lock held."""
    url = hosts["env"]["DATABASE_URL"]
    restarted = hosts["start"]("production")
    state, error, *_ = job_row(url, job)
    assert state == "interrupted" and f"pid {killed.pid} on " in error, (state, error)
    assert locks_held(url) == 0
    return restarted


def run_to_its_end(hosts, kind, params, role):
    url = hosts["env"]["DATABASE_URL"]
    again = enqueue(hosts, kind, params, role)
    wait_for(lambda: job_row(url, again)[0] in ("succeeded", "failed"), f"the {kind} again")
    assert job_row(url, again)[0] == "succeeded", job_row(url, again)
    wait_for(lambda: locks_held(url) == 0, "its lock to be released")  # just after its end


def writer_unharmed(writer, path):
    writer.wait_for_commits(3)
    report = writer.stop()
    assert report.errors == [] and report.missing_from(path) == []
    assert integrity(path) == "ok"


@pytest.mark.parametrize("shape", SHAPES)
def test_an_agent_killed_mid_backup_leaves_the_job_interrupted_and_the_next_agent_backs_up(
    agent_hosts, metamorph_writer, shape
):
    hosts = agent_hosts(shape=shape)
    path = str(hosts["files"]["production"])
    pad(path, "zz_test_padding", 25)  # ~100 MB more to copy and check: the kill can land
    writer = metamorph_writer(path)
    for _attempt in range(10):  # a backup can be taken again on the same file
        if caught := kill_mid_job(hosts, "backup", {}, "operator", running):
            break
    assert caught, "no kill landed while a backup was running"
    restarted = restart_and_check_interrupted(hosts, *caught)
    run_to_its_end(hosts, "backup", {}, "operator")
    assert restarted.poll() is None
    writer_unharmed(writer, path)


def running(row):
    return row[0] == "running"


def migrating(row):
    return row[0] == "running" and row[2] in MIGRATIONS


def migration_state(path):
    """'before' or the migrations applied, after checking that each legacy table has vault_id
    exactly when 001 is recorded: a migration is wholly there or not at all."""
    applied = [m["id"] for m in runner.status(path) if m["applied"]]
    conn = sqlite3.connect(path)
    try:
        with_column = {
            t
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if any(c[1] == "vault_id" for c in conn.execute(f'PRAGMA table_info("{t}")'))
        }
    finally:
        conn.close()
    legacy = {"sessions", "semantic_memory", "evolution_snapshots", "emotional_arcs"}
    assert (legacy <= with_column) == ("001_add_vault_id" in applied), (applied, with_column)
    return applied


@pytest.mark.parametrize("shape", SHAPES)
def test_an_agent_killed_mid_migration_leaves_it_whole_and_the_next_agent_finishes_it(
    agent_hosts, metamorph_writer, shape
):
    params = {"take_backup": True}
    for _attempt in range(ATTEMPTS):
        hosts = agent_hosts("legacy", shape=shape)
        path = str(hosts["files"]["production"])
        pad(path, "semantic_memory", 300_000)  # 001's index builds take a while
        writer = metamorph_writer(path)
        if caught := kill_mid_job(hosts, "migration", params, "admin", migrating):
            break
        writer.stop()
    assert caught, "no kill landed while a migration was running"
    assert integrity(path) == "ok"
    migration_state(path)  # SQLite rolled back what was not committed, whole
    restart_and_check_interrupted(hosts, *caught)
    run_to_its_end(hosts, "migration", params, "admin")
    assert migration_state(path) == list(MIGRATIONS)
    writer_unharmed(writer, path)


def remapping(row):
    state, _, phase, done, total = row
    return state == "running" and phase == "move" and 0 < done < total


def split_of(path, shape, tmp_path):
    """A mapping of every conversation to one of three vaults (a real file's conversations
    are its sessions' ids), as a CSV file, and the state an uninterrupted run reaches."""
    conn = sqlite3.connect(path)
    table = "conversations" if shape == "linked" else "sessions"
    ids = [r[0] for r in conn.execute(f'SELECT id FROM "{table}" ORDER BY id')]
    conn.close()
    tmp_path.mkdir()
    mapping = tmp_path / "mapping.csv"
    mapping.write_bytes(mapping_csv(spread(ids)))
    reference = str(tmp_path / "reference.db")
    shutil.copyfile(path, reference)
    plan = build_plan(reference, SplitByMapping.from_csv(mapping.read_bytes()))
    execute_plan(reference, plan, str(tmp_path / "reference-journal.sqlite3"))
    return str(mapping), snapshot(reference)


@pytest.mark.parametrize("shape", SHAPES)
def test_an_agent_killed_mid_remap_leaves_rows_per_journal_and_the_next_agent_resumes_it(
    agent_hosts, metamorph_writer, shape, tmp_path
):
    sessions = 600 if shape == "linked" else 2000  # a few hundred ms of batches
    for attempt in range(ATTEMPTS):
        hosts = agent_hosts("migrated", sessions=sessions, vaults=1, shape=shape)
        path = str(hosts["files"]["production"])
        mapping, reference = split_of(path, shape, tmp_path / f"attempt-{attempt}")
        before = snapshot(path)
        plan_id = hosts["python"](PREVIEW, path, mapping)["plan"]
        params = {"plan_id": plan_id, "mode": "online"}
        writer = metamorph_writer(path)
        if caught := kill_mid_job(hosts, "remap", params, "admin", remapping):
            break
        writer.stop()
    assert caught, "no kill landed while a remap was moving rows"
    journal = default_journal_path(path)
    assert plan_status(path, plan_id, journal)["state"] == "interrupted"
    assert integrity(path) == "ok" and integrity(journal) == "ok"
    # Each row the remap had reached is in its new vault with its journal row, the rest as was.
    after = snapshot(path)
    kept = {key: row for key, row in after.items() if key in before}  # not the writer's new rows
    assert moved_per_journal(before, kept, journal, plan_id)
    restart_and_check_interrupted(hosts, *caught)
    run_to_its_end(hosts, "remap", params, "admin")
    assert plan_status(path, plan_id, journal)["state"] == "completed"
    writer_unharmed(writer, path)
    after = snapshot(path)
    assert {key: after[key] for key in reference} == reference
    assert {after[key][1] for key in set(after) - set(reference)} <= {SOURCE}  # the writer's
