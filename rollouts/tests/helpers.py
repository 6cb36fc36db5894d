"""Rollout test helpers: operations as real jobs, a rollout over the two databases."""

import sqlite3

from django.contrib.auth.models import User

from metamorph_admin import databases, jobs
from metamorph_admin.models import Origin
from metamorph_admin.tests.commands import manage
from rollouts import services


def operate(kind, path, actor, **params):
    """Run an operation as the dashboard user `actor` did from the web: a real job on the
    real file."""
    user = User.objects.get(username=actor)
    job = jobs.run_job(kind, {"db_path": path, **params}, actor=actor, user=user, origin=Origin.WEB)
    assert job.state == "succeeded", job.error
    return job


def two_fullest_vaults(path):
    """The two vaults holding the most memories: what two isolation-check tokens stand for."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT vault_id FROM semantic_memory GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 2"
        ).fetchall()
    finally:
        conn.close()
    return rows[0][0], rows[1][0]


def make_rollout(actor="ada", **kwargs):
    return services.create_rollout(
        name=kwargs.pop("name", "move to vaults"),
        staging=databases.get("staging"),
        production=databases.get("production"),
        actor=actor,
        **kwargs,
    )


def create_rollout_from_the_shell(env, name, actor="ada"):
    """A rollout over staging and production, made by a manage.py shell subprocess."""
    made = manage(
        "shell",
        "-c",
        "from metamorph_admin import databases as d; from rollouts import services as s; "
        f"s.create_rollout(name={name!r}, staging=d.get('staging'), "
        f"production=d.get('production'), actor={actor!r})",
        env=env,
    )
    assert made.returncode == 0, made.stderr


def attest_all(rollout, phase, actor="oscar"):
    for item in rollout.items.filter(phase=phase, status="open"):
        services.attest(
            rollout, item.key, actor=actor, note=f"done by {actor}, see wiki", version=item.version
        )
