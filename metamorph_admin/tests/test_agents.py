"""Agents: a real `manage.py agent` process per database, sharing the dashboard's database
(SQLite here, PostgreSQL in make test's second run); each takes only its own database's jobs."""

import os
import signal
import sqlite3

import pytest
from django.utils import timezone

from metamorph_admin import agents, databases, migration_state
from metamorph_admin.models import Agent
from metamorph_admin.tests.hosts import ENQUEUE, wait_for
from metamorph_admin.tests.job_helpers import user_with_role

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
def hosts(agent_hosts):
    """Two databases in two folders (two "hosts"), one dashboard database they share."""
    return agent_hosts()


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


def test_in_process_facts_read_the_migration_state_again_only_when_the_file_changed(
    settings, db, metamorph_db, monkeypatch
):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    reads = []
    real_read = migration_state.read
    monkeypatch.setattr(migration_state, "read", lambda path: reads.append(path) or real_read(path))
    database = databases.current()
    first = agents.live_facts(database)
    assert agents.live_facts(database).facts["migrations"] == first.facts["migrations"]
    assert len(reads) == 1
    conn = sqlite3.connect(settings.METAMORPH_DATABASE_PATH)
    with conn:  # a row a rollback of 002 would lose: the schema stays as it was
        conn.execute(
            "INSERT INTO sandbox_resource_usage (id, vault_id, period_start, period_end, "
            "created_at, updated_at) VALUES ('u1', 'v', 'a', 'b', 'c', 'd')"
        )
    conn.close()
    later = agents.live_facts(database).facts["migrations"]
    assert len(reads) == 2
    assert later["rollback_preview"]["total_rows_lost"] == (
        first.facts["migrations"]["rollback_preview"]["total_rows_lost"] + 1
    )
