"""Agents: a real `manage.py agent` process per database, sharing the dashboard's database
(SQLite here, PostgreSQL in make test's second run); each takes only its own database's jobs."""

import json
import os
import signal
import sqlite3
import subprocess
import time

import psycopg
import pytest
from django.utils import timezone

from metamorph_admin import agents
from metamorph_admin.models import Agent
from metamorph_admin.tests.hosts import start_agent, two_hosts, wait_for
from metamorph_admin.tests.job_helpers import run_python, user_with_role

ENQUEUE = """
import json, sys, django
django.setup()
from django.contrib.auth.models import Group, User
from metamorph_admin import databases, jobs
from metamorph_admin.models import Job
user, _ = User.objects.get_or_create(username="oscar")
user.groups.add(Group.objects.get(name="operator"))
databases._current.set(databases.get(sys.argv[1]))
try:
    job = jobs.enqueue_job("backup", {}, user=user)
    print(json.dumps({"job": job.pk}))
except Exception as exc:
    print(json.dumps({"refused": str(exc)}))
"""
JOB = """
import json, sys, django
django.setup()
from metamorph_admin.models import Agent, Job
job = Job.objects.get(pk=int(sys.argv[1]))
agents = {a.database: [a.pid, a.hostname] for a in Agent.objects.all()}
print(json.dumps({"state": job.state, "pid": job.pid, "host": job.hostname,
                  "error": job.error, "agents": agents}))
"""


@pytest.fixture
def hosts(tmp_path, metamorph_db):
    """Two databases in two folders (two "hosts"), one dashboard database they share."""
    files, env = two_hosts(tmp_path, metamorph_db, tmp_path / "backups")
    started = []

    def start(name, expect_ready=True):
        proc = start_agent(name, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        if expect_ready:
            line = proc.stdout.readline()
            assert line.startswith(f"Agent of {name} "), proc.stderr.read()
        return proc

    def python(script, *args):
        return json.loads(run_python(script, *args, env=env).strip().splitlines()[-1])

    yield {"files": files, "env": env, "start": start, "python": python}
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


pytestmark = pytest.mark.dashboard_db


def test_a_backup_runs_on_the_agent_of_its_own_database_only(hosts):
    staging = hosts["start"]("staging")
    production = hosts["start"]("production")
    queued = hosts["python"](ENQUEUE, "production")
    assert "job" in queued, queued
    done = wait_for(
        lambda: (j := hosts["python"](JOB, str(queued["job"])))["state"] == "succeeded" and j,
        "the backup job to succeed",
    )
    assert done["pid"] == production.pid != staging.pid
    assert done["agents"]["production"][0] == production.pid
    backups = os.listdir(os.path.join(hosts["env"]["METAMORPH_BACKUP_DIR"], "production"))
    assert any(b.endswith(".db") for b in backups)


def test_a_second_agent_for_one_database_refuses_naming_the_first(hosts):
    first = hosts["start"]("production")
    second = hosts["start"]("production", expect_ready=False)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 2
    assert f"An agent for database production already runs: pid {first.pid} on " in err
    assert "Traceback" not in err


def test_an_unknown_database_or_a_file_not_on_this_host_is_one_line_and_exit_2(hosts):
    unknown = hosts["start"]("nosuch", expect_ready=False)
    _, err = unknown.communicate(timeout=60)
    assert unknown.returncode == 2
    assert "No database is called 'nosuch' here: the configured ones are staging, production" in err
    os.remove(hosts["files"]["staging"])
    missing = hosts["start"]("staging", expect_ready=False)
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 2
    assert "which does not exist on this host" in err and len(err.strip().splitlines()) == 1


def test_an_action_with_no_agent_is_refused_with_the_command_that_starts_it(hosts):
    refused = hosts["python"](ENQUEUE, "production")
    assert refused["refused"].startswith(
        "Refused: nothing can run on database production now: no agent has ever reported"
    )
    assert "`python manage.py agent --database production`" in refused["refused"]
    agent = hosts["start"]("production")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 0, agent.stderr.read()
    refused = hosts["python"](ENQUEUE, "production")
    assert f"its agent (pid {agent.pid} on " in refused["refused"]
    assert "is offline since" in refused["refused"]


@pytest.fixture
def agents_required(settings, db):
    settings.METAMORPH_AGENTS_REQUIRED = True
    return settings


def test_the_header_shows_each_state_of_the_agent(client, agents_required, metamorph_db):
    agents_required.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    client.force_login(user_with_role("viewer", "vera"))
    page = client.get("/").content.decode()
    assert 'data-agent="never"' in page
    assert "python manage.py agent --database default" in page
    now = timezone.now()
    agent = Agent.objects.create(
        database="default",
        db_path=agents_required.METAMORPH_DATABASE_PATH,
        queue_name="db-default",
        hostname="metamorph-host",
        pid=4242,
        version="0.11.0",
        started_at=now,
        heartbeat_at=now,
    )
    page = client.get("/").content.decode()
    assert 'data-agent="online"' in page and "agent online on metamorph-host" in page
    Agent.objects.filter(pk=agent.pk).update(heartbeat_at=now - agents.OFFLINE_AFTER * 2)
    page = client.get("/").content.decode()
    assert 'data-agent="offline"' in page and "was pid 4242 on metamorph-host" in page


def test_an_offline_agent_refuses_the_button_with_its_reason(client, agents_required, metamorph_db):
    agents_required.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    client.force_login(user_with_role("operator", "oscar"))
    page = client.post("/jobs/start/backup/", {"label": "x"}, follow=True).content.decode()
    assert "Refused: nothing can run on database default now: no agent has ever reported" in page
    assert "python manage.py agent --database default" in page


def _query(url, sql, params):
    """One row, read straight from the shared database (no Django start-up in the loop)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], timeout=20)
        try:
            return conn.execute(sql, params).fetchone()
        finally:
            conn.close()
    with psycopg.connect(url) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchone()


def _job_row(url, job_id):
    return _query(url, "SELECT state, error FROM migrations_ui_job WHERE id = ?", (job_id,))


def _locks(url):
    return _query(url, "SELECT COUNT(*) FROM migrations_ui_mutationlock", ())[0]


def test_an_agent_killed_mid_backup_leaves_the_job_interrupted_and_the_next_agent_backs_up(
    hosts, metamorph_writer
):
    url = hosts["env"]["DATABASE_URL"]
    path = str(hosts["files"]["production"])
    # ~100 MB more pages to copy and check: the backup runs for a while, so the kill can land.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE zz_test_padding (b BLOB)")
        conn.executemany("INSERT INTO zz_test_padding VALUES (randomblob(4194304))", [()] * 25)
    conn.close()
    writer = metamorph_writer(path)
    caught = None
    for _attempt in range(10):  # until the kill lands while the backup runs
        agent = hosts["start"]("production")
        job = hosts["python"](ENQUEUE, "production")["job"]
        deadline = time.monotonic() + 120
        while _job_row(url, job)[0] == "queued":  # a tight look: the run may be short
            assert time.monotonic() < deadline, "the agent never took the job"
            time.sleep(0.005)
        os.kill(agent.pid, signal.SIGSTOP)
        if _job_row(url, job)[0] == "running":
            caught = job
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(timeout=30)
            break
        os.kill(agent.pid, signal.SIGKILL)  # it had finished: try again with a new backup
        agent.wait(timeout=30)
    assert caught is not None, "no kill landed while a backup was running"
    restarted = hosts["start"]("production")  # reaps what the killed agent left
    state, error = _job_row(url, caught)
    assert state == "interrupted" and f"pid {agent.pid} on " in error
    assert _locks(url) == 0
    again = hosts["python"](ENQUEUE, "production")["job"]
    wait_for(lambda: _job_row(url, again)[0] in ("succeeded", "failed"), "the next backup")
    assert _job_row(url, again)[0] == "succeeded", _job_row(url, again)
    assert restarted.poll() is None
    writer.wait_for_commits(3)
    report = writer.stop()
    assert report.errors == [] and report.missing_from(path) == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
