"""Two real processes racing for the dashboard's database, on SQLite and on PostgreSQL
(`make test` runs these on both): the mutation lock, optimistic versions and the one standing
signature per phase each let exactly one of them win, and tell the other why."""

import json
import os
import subprocess
import sys

import pytest

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.job_helpers import subprocess_env
from metamorph_admin.tests.shared_db import on_postgres, shared_database_url

pytestmark = pytest.mark.dashboard_db


@pytest.fixture
def shared(tmp_path, metamorph_db):
    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    env = subprocess_env(
        "unused",
        DATABASE_URL=shared_database_url(tmp_path),
        METAMORPH_DATABASES=f"staging={staging},production={production}",
        METAMORPH_BACKUP_DIR=str(tmp_path / "backups"),
    )
    return {"env": env, "staging": staging, "production": production, "tmp": tmp_path}


def _run(shared, *args):
    done = subprocess.run(
        [sys.executable, "-m", "rollouts.tests.racer", *args],
        cwd=ROOT,
        env=shared["env"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def race(shared, *racers):
    """Start every racer, wait until each is READY, let them go at once; their outcomes."""
    start, finish = shared["tmp"] / "go", shared["tmp"] / "done"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rollouts.tests.racer",
                args[0],
                str(start),
                str(finish),
                *args[1:],
            ],
            cwd=ROOT,
            env=shared["env"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in racers
    ]
    try:
        for proc in procs:
            line = proc.stdout.readline()
            assert line.strip() == "READY", proc.stderr.read()
        start.touch()
        outcomes = [json.loads(proc.stdout.readline()) for proc in procs]
    finally:
        finish.touch()
        for proc in procs:
            proc.wait(timeout=120)
    return outcomes


@pytest.mark.django_db
def test_the_suite_runs_on_the_backend_make_test_asked_for():
    # make test sets METAMORPH_TEST_BACKEND for each of its two runs: a PostgreSQL run that
    # silently fell back to SQLite would prove nothing.
    from django.db import connection

    expected = os.environ.get("METAMORPH_TEST_BACKEND") or (
        "postgresql" if on_postgres() else "sqlite"
    )
    assert connection.vendor == expected


def test_two_processes_taking_one_files_lock_at_once_one_wins_the_other_is_told_who(shared):
    outcomes = race(
        shared, ("lock", shared["production"], "alice"), ("lock", shared["production"], "bob")
    )
    winners = [o for o in outcomes if o["won"]]
    losers = [o for o in outcomes if not o["won"]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0]["error"] == "MutationInProgress"
    winner = "alice" if outcomes[0]["won"] else "bob"
    assert f"started by {winner} from the command line" in losers[0]["detail"]


def test_two_processes_locking_two_files_both_win(shared):
    outcomes = race(
        shared, ("lock", shared["production"], "alice"), ("lock", shared["staging"], "bob")
    )
    assert [o["won"] for o in outcomes] == [True, True], outcomes


def test_two_reviewers_attesting_one_version_at_once_one_saves_the_other_gets_a_conflict(shared):
    ready = _run(shared, "prepare-rollout")
    item = ("attest", str(ready["rollout"]), ready["item"], str(ready["version"]))
    outcomes = race(shared, (*item, "ada"), (*item, "mia"))
    assert sorted(o["won"] for o in outcomes) == [False, True], outcomes
    loser = next(o for o in outcomes if not o["won"])
    assert loser["error"] == "EditConflict"


def test_two_admins_signing_one_phase_at_once_leave_one_standing_signature(shared):
    ready = _run(shared, "prepare-rollout")
    phase = ("sign", str(ready["rollout"]), "0")
    outcomes = race(shared, (*phase, "ada"), (*phase, "mia"))
    assert sorted(o["won"] for o in outcomes) == [False, True], outcomes
    winner = next(o for o in outcomes if o["won"])["detail"]
    loser = next(o for o in outcomes if not o["won"])
    assert loser["error"] == "RolloutRefused"
    # Whether the loser saw the signature before or after its own checks, it is named.
    assert winner in loser["detail"] and "signed" in loser["detail"]
