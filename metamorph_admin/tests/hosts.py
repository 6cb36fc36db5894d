"""Two "hosts" on one machine: a Metamorph file each in its own folder, one dashboard database
they share, and agents started as real subprocesses."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psycopg

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.job_helpers import subprocess_env
from metamorph_admin.tests.shared_db import shared_database_url

# argv: database [kind [params-json [role]]]: queue a web job as a user of that role would.
ENQUEUE = """
import json, sys, django
django.setup()
from django.contrib.auth.models import Group, User
from metamorph_admin import databases, jobs
name, kind, params, role = (sys.argv[1:] + ["backup", "{}", "operator"][len(sys.argv) - 2:])[:4]
user, _ = User.objects.get_or_create(username=f"{role}-user")
user.groups.add(Group.objects.get(name=role))
databases._current.set(databases.get(name))
try:
    job = jobs.enqueue_job(kind, json.loads(params), user=user)
    print(json.dumps({"job": job.pk}))
except Exception as exc:
    print(json.dumps({"refused": str(exc)}))
"""


def two_hosts(tmp_path, metamorph_db, backups, kind="migrated", **build):
    """({name: file}, env) for databases staging and production in two folders (files of
    the metamorph_db `kind`, built with `build`: a shape, a size)."""
    files = {}
    for name in ("staging", "production"):
        folder = tmp_path / f"host-{name}"
        folder.mkdir()
        files[name] = folder / "metamorph.db"
        os.replace(metamorph_db(kind, **build), files[name])
    return files, agent_env(shared_database_url(tmp_path), files, backups)


def agent_env(database_url, files, backups):
    """The environment of an agent (and of a script) over these databases."""
    return subprocess_env(
        "unused",
        DATABASE_URL=database_url,
        METAMORPH_DATABASES=",".join(f"{n}={p}" for n, p in files.items()),
        METAMORPH_BACKUP_DIR=str(backups),
        DEBUG="false",
    )


def start_agent(name, env, **streams):
    """`manage.py agent --database NAME` as a subprocess, looking at its queue every 0.1 s."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "agent", "--database", name, "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        text=True,
        **streams,
    )


def stop_agents(procs):
    """Teardown: every agent still running is let go (a test may have frozen it) and stopped."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def wait_for(condition, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def query(url, sql, params, timeout=20):
    """One row, read straight from the shared database (no Django start-up in the loop)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], timeout=timeout)
        try:
            return conn.execute(sql, params).fetchone()
        finally:
            conn.close()
    with psycopg.connect(url) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchone()


def job_row(url, job_id, timeout=20):
    """(state, error, phase, done, total) of a job."""
    return query(
        url,
        "SELECT state, error, phase, done, total FROM migrations_ui_job WHERE id = ?",
        (job_id,),
        timeout,
    )


def locks_held(url):
    return query(url, "SELECT COUNT(*) FROM migrations_ui_mutationlock", ())[0]


def freeze_while(agent, url, job, in_progress, deadline=120.0):
    """Stop (SIGSTOP) the agent at the first moment its job's row satisfies `in_progress`
    (checked again once it is stopped, since the row may lag behind the process); the row then,
    or None when the job ended first (the agent is let go again)."""
    give_up = time.monotonic() + deadline
    while True:
        row = job_row(url, job)
        if row[0] not in ("queued", "running"):
            return None
        if in_progress(row):
            os.kill(agent.pid, signal.SIGSTOP)
            try:
                row = job_row(url, job, timeout=1)
            except sqlite3.OperationalError:  # stopped while committing to the SQLite file
                row = None
            if row and in_progress(row):
                return row
            os.kill(agent.pid, signal.SIGCONT)
        assert time.monotonic() < give_up, f"job {job} never got in progress: {row}"
        time.sleep(0.002)  # a tight look: the window may be short
