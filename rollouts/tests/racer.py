"""A process that races another for the dashboard's database: `python -m
rollouts.tests.racer SCENARIO ARG...` with DATABASE_URL naming the shared database.

It prepares, prints READY, waits for the start file (both racers then go at once), does its one
operation, prints one JSON line with what happened, and stays alive until the done file exists
(a lock's holder must still be running when the other racer looks at it).
"""

import json
import os
import sys
import time

import django


def _wait_for(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"racer: {path} never appeared")
        time.sleep(0.005)


def main(argv):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metamorph_admin.settings")
    django.setup()
    if argv[0] == "prepare-rollout":
        print(json.dumps(prepare_rollout()), flush=True)
        return
    scenario, start, done, *args = argv
    operation = PREPARE[scenario](*args)
    print("READY", flush=True)
    _wait_for(start)
    try:
        outcome = {"won": True, "detail": operation()}
    except Exception as exc:  # the race's loser: what it was told
        outcome = {"won": False, "error": type(exc).__name__, "detail": str(exc)}
    print(json.dumps(outcome), flush=True)
    _wait_for(done)


def _lock(db_path, actor):
    from metamorph_admin import locks
    from metamorph_admin.models import Job, Origin

    job = Job.objects.create(
        kind="backup", db_path=db_path, actor=actor, origin=Origin.CLI, state=Job.State.RUNNING
    )
    return lambda: str(locks.acquire(job).job_id)


def _attest(rollout_id, key, version, actor):
    from rollouts import services
    from rollouts.models import Rollout

    rollout = Rollout.objects.get(pk=int(rollout_id))
    return lambda: (
        services.attest(
            rollout, key, actor=actor, note=f"checked by {actor}", version=int(version)
        ).note
    )


def _sign(rollout_id, phase, actor):
    from rollouts import services
    from rollouts.models import Rollout

    rollout = Rollout.objects.get(pk=int(rollout_id))
    return lambda: services.sign(rollout, int(phase), actor=actor).signed_by


def prepare_rollout():
    """Two admins, an operator, and a rollout whose checklist the operator made ready (a real
    backup and rehearsal of production, every attested item attested): ready to sign."""
    from django.contrib.auth.models import Group, User

    from metamorph_admin import databases, jobs
    from metamorph_admin.models import Origin
    from rollouts import services

    for name, role in (("ada", "admin"), ("mia", "admin"), ("oscar", "operator")):
        User.objects.create_user(name, password="pw").groups.add(Group.objects.get(name=role))
    production = databases.get("production")
    for kind in ("backup", "rehearsal"):
        job = jobs.run_job(kind, {"db_path": production.path}, actor="oscar", origin=Origin.WEB)
        assert job.state == "succeeded", job.error
    rollout = services.create_rollout(
        name="race", staging=databases.get("staging"), production=production, actor="oscar"
    )
    for item in rollout.items.filter(phase=0, status="open"):
        services.attest(rollout, item.key, actor="oscar", note="done", version=item.version)
    item = rollout.items.get(key="checklist-staging")
    return {"rollout": rollout.pk, "item": item.key, "version": item.version}


PREPARE = {"lock": _lock, "attest": _attest, "sign": _sign}

if __name__ == "__main__":
    main(sys.argv[1:])
