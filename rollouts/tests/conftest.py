"""Rollout fixtures: two configured databases and people with roles."""

import pytest

from metamorph_admin.tests.job_helpers import user_with_role


@pytest.fixture
def dbs(settings, metamorph_db, tmp_path):
    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    return {"staging": staging, "production": production}


@pytest.fixture
def people(db):
    return {
        "ada": user_with_role("admin", "ada"),
        "mia": user_with_role("admin", "mia"),
        "oscar": user_with_role("operator", "oscar"),
        "vera": user_with_role("viewer", "vera"),
    }
