"""Rollout test set-up: two configured databases, people with roles, operations as real jobs."""
import pytest

from metamorph_admin.models import Origin
from metamorph_admin import jobs
from metamorph_admin.tests.job_helpers import user_with_role
from metamorph_admin import databases
from rollouts import services


@pytest.fixture
def dbs(settings, metamorph_db, tmp_path):
    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    return {"staging": staging, "production": production}


@pytest.fixture
def people(db):
    return {"ada": user_with_role("admin", "ada"), "mia": user_with_role("admin", "mia"),
            "oscar": user_with_role("operator", "oscar"),
            "vera": user_with_role("viewer", "vera")}


def operate(kind, path, actor, **params):
    """Run an operation as `actor` did from the web: a real job on the real file."""
    job = jobs.run_job(kind, {"db_path": path, **params}, actor=actor, origin=Origin.WEB)
    assert job.state == "succeeded", job.error
    return job


def make_rollout(actor="ada", **kwargs):
    return services.create_rollout(name=kwargs.pop("name", "move to vaults"),
                                   staging=databases.get("staging"),
                                   production=databases.get("production"), actor=actor,
                                   **kwargs)


def attest_all(rollout, phase, actor="oscar"):
    for item in rollout.items.filter(phase=phase, status="open"):
        services.attest(rollout, item.key, actor=actor, note=f"done by {actor}, see wiki",
                        version=item.version)
