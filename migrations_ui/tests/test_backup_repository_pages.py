"""The Backups page and /metrics read the repository's stored index and the last check (no
borg run in a request): an archive counts as restorable once a check restored it. (The
backup-age alarm's side: vaults/tests/test_backup_age.py.)"""

import os

import pytest
from django.urls import reverse

from conftest import sql
from metamorph.backup import list_backups
from metamorph_admin.models import Job
from metamorph_admin.tests.page_helpers import live_db, login, post_job  # noqa: F401
from migrations_ui.services import engine_calls
from migrations_ui.tests.repository_helpers import empty_table

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.path.exists("/usr/bin/borg"), reason="make test installs borg"),
]
TOKEN = "repository-metrics-token-0123456789"


def _quiet(*args):
    pass


@pytest.fixture
def with_repository(settings, tmp_path, borg_password, initialised_repository, monkeypatch):
    settings.METAMORPH_BACKUP_REPOSITORY = str(initialised_repository(tmp_path / "repo"))
    settings.METAMORPH_BACKUP_PASSWORD_FILE = borg_password
    settings.METRICS_TOKEN = TOKEN
    settings.BACKUP_MAX_AGE_HOURS = 26
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    return settings


def _section(html, id_):
    return html.split(f'id="{id_}"')[1].split("</section>")[0]


def test_archives_count_as_restorable_only_once_checked(client, live_db, with_repository):  # noqa: F811
    path = live_db("migrated")
    made = engine_calls.run_backup(path, _quiet, keep_daily=7)
    archive = made["repository"]["archive"]
    for b in list_backups(with_repository.METAMORPH_BACKUP_DIR):
        os.unlink(b["path"])  # only the repository holds a backup now
    login(client, "viewer")

    html = client.get(reverse("migrations_ui:backups")).content.decode()
    section = _section(html, "repository")
    assert f'data-archive="{archive}"' in section
    assert "not checked" in section and "Last check:" in section and "never" in section
    assert "keep 7 daily" in section

    checked = engine_calls.check_backups(path, _quiet)
    assert checked["ok"], checked
    section = _section(client.get(reverse("migrations_ui:backups")).content.decode(), "repository")
    row = section.split(f'data-archive="{archive}"')[1].split("</tr>")[0]
    assert "restorable" in row and "not restorable" not in row and "kept" in row
    assert "passed" in section

    metrics = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert (
        'metamorph_backup_repository_archives{check="restorable",database="default"} 1.0'
    ) in metrics
    assert 'metamorph_backup_repository_check_ok{database="default"} 1.0' in metrics
    assert 'metamorph_backup_repository_size_bytes{database="default"} ' in metrics
    assert 'metamorph_backup_last_restorable_archive_age_seconds{database="default"} ' in metrics
    assert 'metamorph_backup_verified_present{database="default"} 0.0' in metrics


def test_page_says_how_to_set_up_a_repository_when_there_is_none(client, live_db, settings):  # noqa: F811
    settings.METAMORPH_BACKUP_REPOSITORY = ""
    live_db("migrated")
    login(client, "viewer")
    section = _section(client.get(reverse("migrations_ui:backups")).content.decode(), "repository")
    assert "No off-host repository: set <code>METAMORPH_BACKUP_REPOSITORY</code>" in section


def test_admin_restores_an_archive_from_the_page_through_the_usual_restore(
    client,
    live_db,
    with_repository,  # noqa: F811
):
    path = live_db("migrated")
    made = engine_calls.run_backup(path, _quiet)
    archive = made["repository"]["archive"]
    for b in list_backups(with_repository.METAMORPH_BACKUP_DIR):
        os.unlink(b["path"])
        os.unlink(b["path"] + ".json")
    empty_table(path, "sessions")
    login(client, "admin")
    html = client.get(reverse("migrations_ui:backups")).content.decode()
    form = _section(html, "repository").split(f'data-archive="{archive}"')[1].split("</tr>")[0]
    assert f'name="archive" value="{archive}"' in form

    post_job(client, "restore", name=made["name"], archive=archive, confirm=os.path.basename(path))
    job = Job.objects.get(kind="restore")
    assert job.state == "succeeded", job.error
    assert (
        sql(path, "SELECT COUNT(*) FROM sessions")[0][0] == made["row_counts"]["sessions"]["total"]
    )
    assert [b["name"] for b in list_backups(with_repository.METAMORPH_BACKUP_DIR)][-1] == made[
        "name"
    ]
