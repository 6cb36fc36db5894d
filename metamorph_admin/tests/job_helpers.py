"""Shared by the jobs, roles and audit tests: users with a role, test job kinds, real processes."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from metamorph.errors import MetamorphError
from metamorph.testing.lockers import dead_pid
from metamorph_admin import kinds, liveness
from metamorph_admin.kinds import JobKind
from metamorph_admin.tests.commands import ROOT, manage


def user_with_role(role, username=None, password="pw"):
    user = User.objects.create_user(username or f"{role}-user", password=password)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


class EngineSaysNo(MetamorphError):
    pass


def counting_engine(progress, db_path, steps=5, fail=False, crash=False, interrupt=False):
    """A stand-in engine: reports `steps` steps, then returns, fails or crashes as asked."""
    for i in range(steps):
        progress("copy", i + 1, steps, f"step {i + 1} of {steps}")
    if fail:
        raise EngineSaysNo(f"{db_path} is not what this job expected: pick another file.")
    if crash:
        raise ZeroDivisionError("internal detail /secret/path")
    if interrupt:
        raise KeyboardInterrupt
    return {"db_path": db_path, "steps": steps, "tables": {"messages": 3}}


@pytest.fixture
def test_kinds():
    """Registers a mutating 'test-mutation' (operator) and a read-only 'test-read' kind."""
    added = [
        kinds.register(
            JobKind(
                "test-mutation",
                "Test mutation",
                counting_engine,
                "metamorph_admin.run_backup",
                mutating=True,
            )
        ),
        kinds.register(
            JobKind(
                "test-read",
                "Test read",
                counting_engine,
                "metamorph_admin.run_verification",
                mutating=False,
            )
        ),
    ]
    yield {k.name: k for k in added}
    for kind in added:
        kinds.unregister(kind.name)


_TEMPLATE = {}


def migrated_admin_db(tmp_path):
    """A private copy of a migrated admin database file, for real manage.py subprocesses."""
    if "path" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="admin-db-"))
        atexit.register(shutil.rmtree, folder, True)
        result = manage("migrate", "-v0", tmp_path=folder)
        assert result.returncode == 0, result.stderr
        _TEMPLATE["path"] = folder / "admin.sqlite3"
    target = tmp_path / "admin.sqlite3"
    shutil.copyfile(_TEMPLATE["path"], target)
    return target


def subprocess_env(admin_db, **extra):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(
        {
            "SECRET_KEY": "x",
            "DEBUG": "true",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{admin_db}",
            "DJANGO_SETTINGS_MODULE": "metamorph_admin.settings",
        }
    )
    environ.update(extra)
    return environ


# Run in a real process: register a kind and run it through run_job as a command would.
JOB_SCRIPT = """
import json, sys, time, django
django.setup()
from metamorph_admin import liveness
from metamorph_admin import jobs, kinds
from metamorph_admin.kinds import JobKind
mode, db_path, actor = sys.argv[1:4]
liveness.HEARTBEAT_SECONDS = 0.1

def engine(progress, db_path):
    progress("holding", 0, 1, "holding the lock")
    if mode == "hold":
        print("HOLDING", flush=True)
        time.sleep(120)
    return {"held": False}

kinds.register(JobKind("test-mutation", "Test mutation", engine, "metamorph_admin.run_backup"))
job = jobs.run_job("test-mutation", {"db_path": db_path}, actor=actor, origin="cli")
print(json.dumps({"id": job.pk, "state": job.state, "error": job.error,
                  "log": [line.text for line in job.log_lines.all()]}), flush=True)
"""


def start_job_process(admin_db, mode, db_path, actor):
    return subprocess.Popen(
        [sys.executable, "-c", JOB_SCRIPT, mode, str(db_path), actor],
        cwd=ROOT,
        env=subprocess_env(admin_db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_python(script, *args, env, timeout=120):
    """Run `script` in a fresh interpreter of the checkout with `env`; its stdout (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def killed_process():
    """A Job's pid and hostname fields naming a process of this host that has exited."""
    return {"pid": dead_pid(), "hostname": liveness.hostname()}
