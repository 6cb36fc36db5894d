"""The Vaults page warns when the newest verified backup is older than BACKUP_MAX_AGE_HOURS;
/metrics reports its age."""

import json
import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from metamorph.backup import run_backup
from metamorph.backup.manifest import utc_now


@pytest.fixture
def page(client, db, settings, metamorph_db, tmp_path):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    settings.BACKUP_MAX_AGE_HOURS = 24
    client.force_login(User.objects.create_user("vera", password="pw"))
    return lambda: client.get(reverse("vaults:dashboard")).content.decode()


def backdate(manifest_path, hours):
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    manifest["created_at"] = (utc_now() - timedelta(hours=hours)).isoformat()
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh)
    os.utime(os.path.dirname(manifest_path))  # as a rewrite by os.replace would


def test_no_backup_at_all_is_a_warning(page):
    html = page()
    assert 'data-check="backup_age"' in html and "No verified backup" in html


def test_a_fresh_backup_shows_no_warning_and_an_old_one_does(page, settings):
    made = run_backup(settings.METAMORPH_DATABASE_PATH, settings.METAMORPH_BACKUP_DIR)
    assert 'data-check="backup_age"' not in page()
    backdate(made["manifest_path"], 30)
    html = page()
    assert "Backup too old" in html
    assert (
        f"The newest verified backup ({made['name']}) is 30 hours old; the limit is 24 hours "
        "(BACKUP_MAX_AGE_HOURS)."
    ) in html
    assert "backupdb --keep N" in html


def test_a_backup_of_another_file_does_not_count(page, settings, metamorph_db):
    run_backup(metamorph_db("migrated"), settings.METAMORPH_BACKUP_DIR)
    assert "No verified backup" in page()


def test_the_warning_is_off_at_zero_hours(page, settings):
    settings.BACKUP_MAX_AGE_HOURS = 0
    assert 'data-check="backup_age"' not in page()


def test_metrics_report_the_age_of_the_newest_verified_backup(client, page, settings):
    made = run_backup(settings.METAMORPH_DATABASE_PATH, settings.METAMORPH_BACKUP_DIR)
    backdate(made["manifest_path"], 2)
    settings.METRICS_TOKEN = "t" * 20
    text = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer " + "t" * 20).content.decode()
    age = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('metamorph_backup_last_verified_age_seconds{database="default"} ')
    ]
    assert len(age) == 1 and 7200 <= age[0] < 7260
    assert 'metamorph_backups{database="default",state="verified"} 1.0' in text
    assert 'metamorph_backup_verified_present{database="default"} 1.0' in text


def _archive(hours, check_state=""):
    from metamorph_admin.models import RepositoryArchive

    name = f"metamorph-backup-2026010{len(RepositoryArchive.objects.all())}-031500.db"
    return RepositoryArchive.objects.create(
        database="default",
        archive=f"default.{name}",
        archive_id="0" * 64,
        backup_name=name,
        created_at=utc_now() - timedelta(hours=hours),
        check_state=check_state,
    )


def test_a_repository_archive_counts_only_once_a_check_restored_it(page, settings):
    settings.METAMORPH_BACKUP_REPOSITORY = "/srv/repository"
    unchecked = _archive(1)
    html = page()
    assert "No verified backup" in html and "no archive a check restored" in html
    unchecked.check_state = "failed"
    unchecked.save()
    assert "No verified backup" in page()
    _archive(2, check_state="restorable")
    assert 'data-check="backup_age"' not in page()


def test_an_old_checked_archive_is_named_in_the_warning(page, settings):
    settings.METAMORPH_BACKUP_REPOSITORY = "/srv/repository"
    old = _archive(30, check_state="restorable")
    html = page()
    assert (
        f"The newest restorable backup ({old.archive}) is 30 hours old; the limit is 24 hours"
    ) in html
    assert "checkbackups" in html
