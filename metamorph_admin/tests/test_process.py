"""An operation command's process runs without the site's apps and without a queue
(metamorph_admin/process.py); every other process (the site, an agent, Django's own commands)
has them all."""

import json
import subprocess
import sys

import pytest
from django.core.management import get_commands, load_command_class

from metamorph_admin import process
from metamorph_admin.cli import OperationCommand
from metamorph_admin.jobs import run_job_task
from metamorph_admin.task_backends import NoQueueInCommands, QueueingRefused
from metamorph_admin.tests.commands import ROOT, operator_environ

# Runs manage.py as an operator does; at its exit, what its process had loaded and set up.
AT_EXIT = """
import atexit, json, os, runpy, sys
out = sys.argv[1]
def note():
    from django.apps import apps
    from django.tasks import task_backends
    relations = [
        f.related_model for m in apps.get_models() for f in m._meta.get_fields() if f.is_relation
    ]
    with open(out, "w") as f:
        json.dump({
            "apps": [a.name for a in apps.get_app_configs()],
            "loaded": sorted(m for m in sys.modules if m.split(".")[0] in (
                "django_tasks_db", "django_stubs_ext", "whitenoise", "django_htmx"
            ) or m.startswith(("django.contrib.admin", "django.contrib.sessions"))),
            "backend": type(task_backends["default"]).__name__,
            "unresolved": [r for r in relations if isinstance(r, str)],
        }, f)
atexit.register(note)
sys.argv = ["manage.py"] + sys.argv[2:]
runpy.run_path(os.path.join(os.environ["ROOT"], "manage.py"), run_name="__main__")
"""


def run_noting(tmp_path, *args):
    out = tmp_path / f"noted-{args[0]}.json"
    shown = subprocess.run(
        [sys.executable, "-c", AT_EXIT, str(out), *args],
        cwd=ROOT,
        env=operator_environ({"ROOT": str(ROOT)}, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return shown, json.loads(out.read_text())


def test_an_operation_command_runs_without_the_sites_apps_and_queues_nothing(
    metamorph_db, tmp_path
):
    path = metamorph_db("migrated")
    shown, noted = run_noting(tmp_path, "vaultreport", "--json", "--db", str(path))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["counts"]["total_rows"] > 0
    assert "django.contrib.admin" not in noted["apps"] and "django_tasks_db" not in noted["apps"]
    assert {"django.contrib.auth", "axes", "metamorph_admin", "vaults"} <= set(noted["apps"])
    assert noted["loaded"] == []  # not imported at all: that is the start-up it saves
    assert noted["backend"] == "NoQueueInCommands"
    assert noted["unresolved"] == []  # no model it loads points at one it left out


def test_any_other_process_has_every_app_and_the_queue(tmp_path):
    shown, noted = run_noting(tmp_path, "shell", "-c", "pass")
    assert shown.returncode == 0, shown.stderr
    assert {"django.contrib.admin", "django_tasks_db", "django.contrib.staticfiles"} <= set(
        noted["apps"]
    )
    assert noted["backend"] == "DatabaseBackend"
    assert noted["unresolved"] == []


@pytest.fixture
def entered():
    yield process.enter
    process.enter(["manage.py"])  # as this test process was: not an operation command


@pytest.mark.parametrize(
    "argv, operation",
    [
        (["manage.py", "vaultreport", "--json"], True),
        (["metamorph-admin", "backupdb"], True),
        (["manage.py", "agent", "--all"], False),  # it takes jobs from the queue
        (["manage.py", "migrate"], False),
        (["manage.py", "runserver"], False),
        (["manage.py", "help", "vaultreport"], False),
        (["manage.py"], False),
    ],
)
def test_the_entry_point_tells_an_operation_command_by_its_name(entered, argv, operation):
    entered(argv)
    assert process.is_operation_command() is operation


def test_each_operation_command_is_one_that_runs_its_work_in_its_own_process():
    commands = get_commands()
    for name in process.OPERATION_COMMANDS:
        command = load_command_class(commands[name], name)
        assert isinstance(command, OperationCommand), name
    assert "agent" not in process.OPERATION_COMMANDS


def test_queueing_from_an_operation_command_is_refused_with_the_reason():
    backend = NoQueueInCommands("default", {"QUEUES": []})
    backend.validate_task(run_job_task)  # the tasks its modules define still validate
    with pytest.raises(QueueingRefused, match="runs its work itself"):
        backend.enqueue(run_job_task, (1,), {})
