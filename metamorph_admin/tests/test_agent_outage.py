"""PostgreSQL (the dashboard's database) stopped while an agent runs a backup, and again while
it waits for work: the backup finishes on the file, its result is recorded and its lock
released once PostgreSQL is back; the agent says one line per outage, no traceback, and takes
the next job. Told to stop during an outage, the agent stops; the next one marks its job
interrupted. The server stopped is one the test owns, never the suite's shared database."""

import os
import signal
import sqlite3
import subprocess
import threading

import pytest

from metamorph import backup
from metamorph_admin.tests import throwaway_pg
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.hosts import (
    ENQUEUE,
    agent_env,
    freeze_while,
    job_row,
    locks_held,
    query,
    start_agent,
    stop_agents,
    wait_for,
)
from metamorph_admin.tests.job_helpers import run_python
from metamorph_admin.tests.shared_db import on_postgres

pytestmark = [
    pytest.mark.dashboard_db,
    pytest.mark.skipif(
        not on_postgres(),
        reason="an outage of PostgreSQL: runs in make test's PostgreSQL pass (DATABASE_URL "
        "postgres://…), on a throw-away server of its own",
    ),
    pytest.mark.skipif(bool(throwaway_pg.available()), reason=throwaway_pg.available()),
]
OUTAGE = "The dashboard's database (PostgreSQL at 127.0.0.1:"
BACK = "The dashboard's database answers again after"
STOPS = "The agent stops while the dashboard's database is away"
# A backup's phases before it publishes: it holds its lock and works on the file. (Claimed but
# not yet locked, the job is running too; a lock is taken only once the database answers.)
ON_THE_FILE = ("copy", "verify", "integrity", "count")


@pytest.fixture
def own_postgres():
    server = throwaway_pg.ThrowawayPostgres().init().start()
    yield server
    server.destroy()


@pytest.fixture
def production(tmp_path, metamorph_db, own_postgres):
    """(dashboard URL, agent environment, backup folder) of database production, whose file
    has ~100 MB more to copy and check: a backup outlasts a stop of PostgreSQL."""
    url = own_postgres.create_database("dashboard")
    migrated = manage("migrate", "-v0", env={"DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    folder = tmp_path / "host-production"
    folder.mkdir()
    path = folder / "metamorph.db"
    os.replace(metamorph_db("migrated"), path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE zz_test_padding (b BLOB)")
        conn.executemany("INSERT INTO zz_test_padding VALUES (randomblob(4194304))", [()] * 25)
    conn.close()
    env = agent_env(url, {"production": path}, tmp_path / "backups")
    return url, env, str(tmp_path / "backups" / "production")


@pytest.fixture
def run_agent():
    """start(env) -> (agent, its ready line, its stderr as Lines); told to stop at the end."""
    started = []

    def start(env):
        agent = start_agent("production", env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(agent)
        ready = agent.stdout.readline()
        assert ready.startswith("Agent of production "), ready
        return agent, ready, Lines(agent.stderr)

    yield start
    stop_agents(started)


class Lines:
    """A process's stderr, read as it comes (a pipe nobody reads would block it)."""

    def __init__(self, stream):
        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def count(self, start):
        return sum(line.startswith(start) for line in self.lines)


def enqueue_backup(env):
    out = run_python(ENQUEUE, "production", env=env).strip().splitlines()[-1]
    assert '"job"' in out, out
    return int(out.split(":")[1].strip(" }"))


def backup_with_postgresql_stopped(agent, said, production, own_postgres):
    """Stop PostgreSQL while a backup works on the file (the agent held still meanwhile) and
    wait for the backup to finish on the file all the same; its job's id."""
    url, env, backups = production
    for _attempt in range(10):  # until PostgreSQL stops while a backup runs
        job = enqueue_backup(env)
        if freeze_while(agent, url, job, lambda row: row[0] == "running" and row[2] in ON_THE_FILE):
            break
    else:
        pytest.fail("no backup was caught working on the file")
    verified = len(backup.list_backups(backups))
    own_postgres.stop()
    os.kill(agent.pid, signal.SIGCONT)
    wait_for(lambda: said.count(OUTAGE) == 1, "the agent to say PostgreSQL is away")
    wait_for(
        lambda: sum(b["state"] == "verified" for b in backup.list_backups(backups)) > verified,
        "the backup to finish on the file",
    )
    return job


def test_postgresql_stopped_mid_backup_and_while_idle_the_agent_finishes_and_reconnects(
    production, own_postgres, run_agent
):
    url, env, backups = production
    agent, _, said = run_agent(env)
    job = backup_with_postgresql_stopped(agent, said, production, own_postgres)
    assert agent.poll() is None, said.lines
    own_postgres.start()
    wait_for(lambda: job_row(url, job)[0] == "succeeded", "the backup's result recorded")
    wait_for(lambda: locks_held(url) == 0, "its lock released")
    wait_for(lambda: said.count(BACK) == 1, "the agent to say PostgreSQL is back")

    # Away while the agent waits for work: one more line, and the next job runs.
    own_postgres.stop()
    wait_for(lambda: said.count(OUTAGE) == 2, "the agent to notice the second outage")
    own_postgres.start()
    wait_for(lambda: said.count(BACK) == 2, "the agent to reconnect")
    again = enqueue_backup(env)
    wait_for(lambda: job_row(url, again)[0] == "succeeded", "the next backup")
    beat = query(url, "SELECT heartbeat_at FROM metamorph_admin_agent", ())[0]
    wait_for(
        lambda: query(url, "SELECT heartbeat_at FROM metamorph_admin_agent", ())[0] > beat,
        "a heartbeat after the outages",
    )
    assert agent.poll() is None
    assert not [line for line in said.lines if "Traceback" in line], said.lines
    assert said.count(OUTAGE) == 2 and said.count(BACK) == 2, said.lines
    assert all(b["state"] == "verified" for b in backup.list_backups(backups))


def test_an_agent_told_to_stop_while_postgresql_is_away_stops_and_the_next_marks_its_job_interrupted(
    production, own_postgres, run_agent
):
    url, env, _ = production
    agent, _, said = run_agent(env)
    job = backup_with_postgresql_stopped(agent, said, production, own_postgres)
    # The backup's end waits for PostgreSQL; a SIGTERM does not.
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 0
    wait_for(lambda: said.count(STOPS) == 1, "the agent to say why the job stays running")
    assert not [line for line in said.lines if "Traceback" in line], said.lines

    own_postgres.start()
    assert job_row(url, job)[0] == "running" and locks_held(url) == 1
    _, ready, _ = run_agent(env)
    assert "Marked 1 job(s) of a stopped process interrupted." in ready
    state, error = job_row(url, job)[:2]
    assert state == "interrupted", (state, error)
    assert error.startswith("Interrupted: the process running it (pid "), error
    assert locks_held(url) == 0
