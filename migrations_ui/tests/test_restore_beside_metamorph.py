"""restorebackup and the Backups page while Metamorph (a real writer process) has the file."""

import json
import os

import pytest
from django.urls import reverse

from metamorph import backup
from metamorph_admin.models import Job
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db, user_with_role


@pytest.fixture
def run(tmp_path):
    admin = migrated_admin_db(tmp_path)

    def call(*args):
        return manage(
            *args,
            env={
                "DATABASE_URL": f"sqlite:///{admin}",
                "METAMORPH_BACKUP_DIR": str(tmp_path / "backups"),
            },
        )

    call.backups = str(tmp_path / "backups")
    return call


def test_restorebackup_refuses_while_metamorph_runs_and_names_it(
    run, metamorph_db, metamorph_writer
):
    path = metamorph_db("migrated")
    made = backup.run_backup(path, run.backups)
    writer = metamorph_writer(path)

    refused = run("restorebackup", made["name"], "--db", path, "--yes")
    report = writer.stop()
    assert refused.returncode == 1
    assert f"pid {writer.pid} (" in refused.stderr and "writer.py" in refused.stderr
    assert "Stop Metamorph first" in refused.stderr and "Traceback" not in refused.stderr
    assert [b["name"] for b in backup.list_backups(run.backups)] == [made["name"]]
    assert report.errors == [] and report.missing_from(path) == []


def test_restorebackup_force_names_the_safety_backup_holding_the_servers_writes(
    run, metamorph_db, metamorph_writer
):
    path = metamorph_db("migrated")
    made = backup.run_backup(path, run.backups)
    writer = metamorph_writer(path)
    writer.wait_for_commits(10)

    done = run("restorebackup", made["name"], "--db", path, "--yes", "--force", "--json")
    writer.wait_for_commits(5)
    report = writer.stop()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    safety = os.path.join(run.backups, result["safety_backup"])
    assert f"is in the safety backup {result['safety_backup']}" in result["message"]
    assert report.errors == [] and report.max_wait < 2.0  # forced: downtime, see live tests
    lost = set(report.missing_from(path)) & set(report.missing_from(safety))
    assert not lost


def test_restorebackup_help_says_it_is_a_downtime_operation(run):
    helped = run("restorebackup", "--help")
    assert "downtime operation" in helped.stdout and "--force" in helped.stdout


def test_backups_page_names_the_process_and_a_forced_restore_keeps_its_writes(
    client, db, settings, metamorph_db, tmp_path, metamorph_writer
):
    path = settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    made = backup.run_backup(path, settings.METAMORPH_BACKUP_DIR)
    client.force_login(user_with_role("admin"))
    writer = metamorph_writer(path)

    page = client.get(reverse("migrations_ui:backups")).content.decode()
    assert "In use right now" in page and f"pid {writer.pid} (" in page
    confirm = os.path.basename(path)
    client.post(
        reverse("core:start_job", args=["restore"]), {"name": made["name"], "confirm": confirm}
    )
    refused = Job.objects.get(kind="restore")
    assert refused.state == "failed" and "Stop Metamorph first" in refused.error
    client.post(
        reverse("core:start_job", args=["restore"]),
        {"name": made["name"], "confirm": confirm, "force": "on"},
    )
    forced = Job.objects.filter(kind="restore").latest("pk")
    writer.wait_for_commits(5)
    report = writer.stop()
    assert forced.state == "succeeded", forced.error
    assert forced.result["safety_backup"] in forced.result["message"]
    safety = os.path.join(settings.METAMORPH_BACKUP_DIR, forced.result["safety_backup"])
    assert not set(report.missing_from(path)) & set(report.missing_from(safety))
    assert report.errors == []
