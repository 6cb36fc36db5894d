"""Fixtures of the agent tests: databases on two "hosts", agents as real subprocesses."""

import json
import subprocess

import pytest

from metamorph_admin.tests.hosts import start_agent, stop_agents, two_hosts
from metamorph_admin.tests.job_helpers import run_python


@pytest.fixture
def agent_hosts(tmp_path, metamorph_db):
    """make(kind="migrated", **build) -> two databases in two folders (two "hosts"), one
    dashboard database they share: {"files", "env", "start", "python"}. Every agent started
    is stopped at teardown (let go first if a test froze it)."""
    started = []

    def make(kind="migrated", **build):
        world = tmp_path / f"world-{len(list(tmp_path.glob('world-*')))}"
        world.mkdir()
        files, env = two_hosts(world, metamorph_db, world / "backups", kind, **build)

        def start(name, expect_ready=True):
            proc = start_agent(name, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            started.append(proc)
            if expect_ready:
                line = proc.stdout.readline()
                assert line.startswith(f"Agent of {name} "), proc.stderr.read()
            return proc

        def python(script, *args):
            return json.loads(run_python(script, *args, env=env).strip().splitlines()[-1])

        return {"files": files, "env": env, "start": start, "python": python}

    yield make
    stop_agents(started)
