"""Several Metamorph databases: settings, the header's switcher, jobs and backups per database,
commands' --database."""

import json
import os

import pytest
from django.urls import reverse

from conftest import sql
from metamorph_admin import databases
from metamorph_admin.models import Job
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import two_databases_env, user_with_role


def test_parse_names_each_file_once_with_absolute_paths(tmp_path):
    parsed = databases.parse_databases(" staging=stage/m.db , production=/srv/p.db,", tmp_path)
    assert parsed == [("staging", str(tmp_path / "stage" / "m.db")), ("production", "/srv/p.db")]


@pytest.mark.parametrize(
    "text, says",
    [
        ("staging", "is not NAME=PATH"),
        ("staging=", "is not NAME=PATH"),
        ("stag ing=/a.db", "must be 1-40 letters"),
        ("a=/x.db,a=/y.db", "given twice"),
        ("a=/x.db,b=/x.db", "are the same file"),
    ],
)
def test_parse_refuses_bad_values_saying_why(text, says, tmp_path):
    with pytest.raises(ValueError, match=says):
        databases.parse_databases(text, tmp_path)


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    done = manage("check", env={"METAMORPH_DATABASES": "staging"}, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "METAMORPH_DATABASES" in done.stderr and "name=path" in done.stderr


@pytest.fixture
def two(settings, metamorph_db, tmp_path):
    staging, production = metamorph_db("legacy"), metamorph_db("migrated")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    return {"staging": staging, "production": production}


def test_without_the_setting_the_one_path_is_the_default_database(settings, tmp_path):
    settings.METAMORPH_DATABASES = []
    settings.METAMORPH_DATABASE_PATH = str(tmp_path / "m.db")
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "b")
    assert databases.configured() == [
        databases.Database("default", str(tmp_path / "m.db"), str(tmp_path / "b"))
    ]


def test_each_database_has_its_own_backup_directory(two, tmp_path):
    assert databases.get("staging").backup_dir == str(tmp_path / "backups" / "staging")
    assert databases.for_path(two["production"]).name == "production"


def test_header_switches_and_every_page_follows(client, db, two):
    client.force_login(user_with_role("viewer"))
    first = client.get("/migrations/").content.decode()
    assert f'data-database="staging">{two["staging"]}' in first
    assert "001_add_vault_id" in first and "pending" in first
    switched = client.post(
        reverse("switch_database"), {"database": "production", "next": "/migrations/"}
    )
    assert switched.status_code == 302 and switched.url == "/migrations/"
    page = client.get("/migrations/").content.decode()
    assert f'data-database="production">{two["production"]}' in page
    assert "Nothing pending" in page
    dashboard = client.get("/").content.decode()
    assert two["production"] in dashboard


def test_switching_to_an_unknown_name_keeps_the_current_one(client, db, two):
    client.force_login(user_with_role("viewer"))
    client.post(reverse("switch_database"), {"database": "production"})
    response = client.post(
        reverse("switch_database"), {"database": "qa", "next": "//evil"}, follow=True
    )
    page = response.content.decode()
    assert "no such database" in page and 'data-database="production"' in page


def test_a_removed_database_falls_back_to_the_first(client, db, two, settings):
    client.force_login(user_with_role("viewer"))
    client.post(reverse("switch_database"), {"database": "production"})
    settings.METAMORPH_DATABASES = [("staging", two["staging"])]
    page = client.get("/migrations/").content.decode()
    assert two["staging"] in page and "data-database" not in page  # one database: no switcher


def test_a_web_backup_goes_to_the_current_databases_job_and_directory(client, db, two, tmp_path):
    client.force_login(user_with_role("operator"))
    client.post(reverse("switch_database"), {"database": "staging"})
    client.post(reverse("core:start_job", args=["backup"]), {"label": "stage"})
    job = Job.objects.get(kind="backup")
    assert job.state == "succeeded", job.error
    assert job.db_path == two["staging"]
    names = os.listdir(tmp_path / "backups" / "staging")
    assert any(n.endswith(".db") for n in names) and job.result["name"] in names
    assert not (tmp_path / "backups" / "production").exists()
    listed = client.get("/backups/").content.decode()
    assert job.result["name"] in listed
    client.post(reverse("switch_database"), {"database": "production"})
    assert job.result["name"] not in client.get("/backups/").content.decode()


def test_commands_take_database_by_name(tmp_path, metamorph_db):
    staging, production = metamorph_db("legacy"), metamorph_db("migrated")
    env = two_databases_env(tmp_path, staging, production)
    done = manage("backupdb", "--database", "production", "--json", env=env)
    assert done.returncode == 0, done.stderr
    listed = manage("listbackups", "--database", "production", "--json", env=env)
    entries = json.loads(listed.stdout)
    assert [e["state"] for e in entries] == ["verified"]
    assert entries[0]["source_path"] == production
    assert (
        json.loads(manage("listbackups", "--database", "staging", "--json", env=env).stdout) == []
    )
    report = manage("vaultreport", "--database", "staging", "--json", env=env)
    assert json.loads(report.stdout)["path"] == staging
    unknown = manage("runmigration", "--database", "qa", "--list", env=env)
    assert unknown.returncode == 1
    assert "No database called 'qa'" in unknown.stderr and "staging, production" in unknown.stderr
    both = manage("runmigration", "--database", "staging", "--db", staging, "--list", env=env)
    assert "not both" in both.stderr
    assert sql(staging, "SELECT COUNT(*) FROM sqlite_master WHERE name='schema_migrations'") == [
        (0,)
    ]


def test_jobs_page_shows_the_current_databases_jobs_and_audit_can_filter(client, db, two):
    from metamorph_admin import jobs
    from metamorph_admin.models import Origin

    staging_job = jobs.run_job(
        "backup", {"db_path": two["staging"]}, actor="cli-user", origin=Origin.CLI
    )
    prod_job = jobs.run_job(
        "backup", {"db_path": two["production"]}, actor="cli-user", origin=Origin.CLI
    )
    client.force_login(user_with_role("admin"))
    page = client.get("/jobs/").content.decode()
    assert f"/jobs/{staging_job.pk}/" in page and f"/jobs/{prod_job.pk}/" not in page
    page = client.get("/jobs/?database=production").content.decode()  # also switches the header
    assert f"/jobs/{prod_job.pk}/" in page and f"/jobs/{staging_job.pk}/" not in page
    assert 'data-database="production"' in page
    every = client.get("/jobs/?database=").content.decode()
    assert f"/jobs/{prod_job.pk}/" in every and f"/jobs/{staging_job.pk}/" in every
    audit = client.get("/audit/?database=staging").content.decode()
    assert two["staging"] in audit and two["production"] not in audit.split("<table")[1]


def test_only_the_databases_module_reads_the_path_settings():
    """Every page and command asks metamorph_admin.databases which file it is about; a direct
    read of the single-path settings would ignore the header's choice."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    allowed = {
        "metamorph_admin/databases.py",
        "metamorph_admin/settings.py",
        "vaults/management/commands/ensuredemodb.py",
    }
    offenders = []
    for path in root.glob("*/**/*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in (".venv", "bench", "e2e") or "/tests/" in rel or rel in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        if "settings.METAMORPH_DATABASE_PATH" in text or "settings.METAMORPH_BACKUP_DIR" in text:
            offenders.append(rel)
    assert offenders == []


def test_with_several_databases_a_destructive_step_wants_the_database_name(client, db, two):
    client.force_login(user_with_role("admin"))
    client.post(reverse("switch_database"), {"database": "staging"})
    page = client.get("/migrations/").content.decode()
    assert 'Type <code class="confirm-name">staging</code> to confirm' in page
    start = reverse("core:start_job", args=["migration"])
    params = {"take_backup": "on", "max_backup_age_hours": 24, "next": "/migrations/"}
    client.post(start, {**params, "confirm": os.path.basename(two["staging"])})
    assert not Job.objects.filter(kind="migration").exists()  # the file name is ambiguous
    refused = client.get("/migrations/").content.decode()
    assert "Type the database name exactly (staging) to confirm." in refused
    client.post(start, {**params, "confirm": "staging"})
    job = Job.objects.get(kind="migration")
    assert job.state == "succeeded" and job.db_path == two["staging"]
    assert sql(two["production"], "SELECT COUNT(*) FROM schema_migrations") == [(2,)]  # as built
