"""Job, backup and migration pages read at a glance: summaries, links, states and roles."""

import os
import re
import socket

import pytest
from django.urls import reverse

from metamorph_admin.models import Job
from metamorph_admin.tests.job_helpers import killed_process
from metamorph_admin.tests.page_helpers import (  # noqa: F401 (live_db is a fixture)
    LITERALS,
    job_page,
    live_db,
    login,
    start,
    summary_of,
)

pytestmark = pytest.mark.django_db


def test_a_backup_job_leads_with_name_size_checksum_and_links_to_the_backup(client, live_db):
    live_db()
    job = start(login(client, "operator"), "backup", label="before")
    assert job.state == "succeeded", job.error
    html = job_page(client, job)
    summary = summary_of(html)
    name, sha = job.result["name"], job.result["sha256"]
    assert name in summary.split("</p>")[0]  # the headline names the backup
    size_mb = f"{job.result['backup_size_bytes'] / 1e6:.1f} MB"
    assert size_mb in summary and sha in summary
    assert f'href="{reverse("migrations_ui:backup", args=[name])}"' in summary
    messages_rows = job.result["row_counts"]["messages"]["total"]
    assert f"<td>messages</td><td>{messages_rows:,}</td>" in summary
    assert not LITERALS.search(summary)
    # raw data folded away; the page leads with the summary
    assert html.index('id="job-summary"') < html.index('id="raw-result"')
    assert '<details id="raw-result">' in html
    assert f'id="way-back" href="{reverse("migrations_ui:backups")}"' in html
    # and the backup's page links back to the job that made it
    backup = client.get(reverse("migrations_ui:backup", args=[name])).content.decode()
    assert f'href="{reverse("core:job", args=[job.pk])}"' in backup and sha in backup


def test_a_backup_that_held_metamorphs_commits_long_says_so_with_what_to_do(client, live_db):
    live_db()
    job = start(login(client, "operator"), "backup", label="busy hour")
    assert job.state == "succeeded", job.error
    assert "read lock for" not in summary_of(job_page(client, job))  # a quiet copy: nothing
    # As a 5 GB copy beside a writer committing 100 times a second held it (2026-12-08).
    Job.objects.filter(pk=job.pk).update(result={**job.result, "longest_read_lock_seconds": 13.03})
    summary = summary_of(job_page(client, job))
    assert "held the live file&#x27;s read lock for 13.0 s" in summary
    assert "busy timeout is 5 s" in summary and "WAL mode" in summary


def test_a_missing_backup_or_job_is_a_404_inside_the_site(client, live_db):
    live_db()
    login(client, "viewer")
    for url in (
        reverse("migrations_ui:backup", args=["metamorph-backup-20000101-000000.db"]),
        "/jobs/99999/",
    ):
        response = client.get(url)
        assert response.status_code == 404 and 'id="not-found"' in response.content.decode()


def test_a_migration_job_lists_preflight_findings_and_links_its_backup(client, live_db):
    path = live_db("legacy")
    job = start(
        login(client, "admin"),
        "migration",
        take_backup="on",
        max_backup_age_hours="24",
        confirm=os.path.basename(path),
    )
    assert job.state == "succeeded", job.error
    summary = summary_of(job_page(client, job))
    assert "Applied 001_add_vault_id, 002_add_vercel_sandbox_tables" in summary
    findings = re.findall(r'<li class="(ok|error|info)">', summary)
    assert len(findings) >= len(job.result["preflight"]["findings"]) > 0
    assert "pre-flight" in summary
    backup = job.result["backup"]["name"]
    assert f'href="{reverse("migrations_ui:backup", args=[backup])}"' in summary
    assert not LITERALS.search(summary)
    status = client.get(reverse("migrations_ui:migrations")).content.decode()
    row = status.split('data-migration="001_add_vault_id"')[1].split("</tr>")[0]
    assert f'href="{reverse("core:job", args=[job.pk])}"' in row  # and back to the job


def test_a_finished_rehearsal_shows_100_percent_not_its_last_step(client, live_db):
    live_db("legacy")
    job = start(login(client, "operator"), "rehearsal")
    assert job.state == "succeeded", job.error
    assert job.done == job.total and job.percent == 100
    html = job_page(client, job)
    progress = html.split('id="job-progress"')[1].split("</p>")[0]
    assert "100 %" in progress and " 0 / 1" not in progress
    listing = client.get(reverse("core:jobs")).content.decode()
    row = listing.split(f'href="/jobs/{job.pk}/"')[1].split("</tr>")[0]
    assert 'aria-valuenow="100"' in row and "100 %" in row


def test_a_viewer_sees_every_action_disabled_with_the_role_it_needs(client, live_db):
    path = live_db("migrated")
    operator = login(client, "operator")
    start(operator, "backup")
    viewer = login(client, "viewer")
    backups = viewer.get(reverse("migrations_ui:backups")).content.decode()
    assert re.search(
        r'<button type="submit" disabled[^>]*Needs the operator role[^>]*>Back up '
        r"now</button>",
        backups,
    )
    assert re.search(
        r'<button type="button" class="danger" disabled[^>]*Needs the admin role'
        r"[^>]*>Restore…</button>",
        backups,
    )
    assert 'name="confirm"' not in backups  # no restore form to fill in for nothing
    migrations = viewer.get(reverse("migrations_ui:migrations")).content.decode()
    assert re.search(
        r'class="danger" disabled[^>]*Needs the admin role[^>]*>Roll back<', migrations
    )
    assert re.search(r'id="verify" disabled[^>]*Needs the operator role', migrations)
    admin = login(client, "admin")
    backups = admin.get(reverse("migrations_ui:backups")).content.decode()
    assert "disabled" not in backups and 'name="confirm"' in backups
    assert os.path.basename(path) in backups


def test_times_are_in_the_operators_zone_with_utc_on_hover(client, live_db, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    live_db()
    job = Job.objects.create(kind="backup", db_path="/x.db", actor="ada")
    Job.objects.filter(pk=job.pk).update(created_at="2026-01-15T12:00:00Z")
    html = login(client, "viewer").get(reverse("core:jobs")).content.decode()
    assert (
        '<time datetime="2026-01-15T12:00:00+00:00" title="2026-01-15 12:00:00 UTC">'
        "2026-01-15 13:00:00 CET</time>"
    ) in html


def test_while_a_job_changes_the_file_the_pages_offer_no_other_change_and_wait_for_it(
    client, live_db
):
    path = live_db("legacy")
    admin = login(client, "admin")
    running = Job.objects.create(
        kind="backup",
        db_path=path,
        actor="ada",
        state="running",
        phase="copy",
        done=10,
        total=40,
        pid=os.getpid(),
        hostname=socket.gethostname(),
    )
    html = admin.get(reverse("migrations_ui:migrations")).content.decode()
    assert 'id="active-job"' in html and f'href="/jobs/{running.pk}/"' in html
    assert 'id="run-form"' not in html and "Nothing pending" not in html
    backups = admin.get(reverse("migrations_ui:backups")).content.decode()
    assert 'id="backup-form"' not in backups and 'id="active-job"' in backups
    wait = reverse("core:job_wait", args=[running.pk])
    assert 'id="active-job"' in admin.get(wait, headers={"HX-Request": "true"}).content.decode()
    Job.objects.filter(pk=running.pk).update(state="succeeded")
    assert admin.get(wait, headers={"HX-Request": "true"})["HX-Refresh"] == "true"
    html = admin.get(reverse("migrations_ui:migrations")).content.decode()
    assert 'id="run-form"' in html and 'id="active-job"' not in html


def test_every_operation_job_page_reads_in_words_never_literals(client, live_db):
    path = live_db("migrated")
    name = os.path.basename(path)
    operator = login(client, "operator")
    backup = start(operator, "backup", label="first")
    start(operator, "verify-backup", name=backup.result["name"])
    start(operator, "rehearsal")
    start(operator, "verification")
    admin = login(client, "admin")
    start(
        admin,
        "rollback",
        migration_id="002_add_vercel_sandbox_tables",
        take_backup="on",
        confirm=name,
    )
    start(admin, "restore", name=backup.result["name"], confirm=name)
    jobs = list(Job.objects.order_by("id"))
    assert [j.kind for j in jobs] == [
        "backup",
        "verify-backup",
        "rehearsal",
        "verification",
        "rollback",
        "restore",
    ]
    for job in jobs:
        assert job.state == "succeeded", (job.kind, job.error)
        summary = summary_of(job_page(admin, job))
        headline = re.search(r'id="job-headline">([^<]+)<', summary).group(1)
        assert len(headline) > 10, job.kind
        assert not LITERALS.search(summary), (job.kind, LITERALS.search(summary))


def test_a_killed_backup_does_not_advise_a_restore(client, settings, tmp_path):
    # A backup only reads the database: "restore the last backup" was the wrong advice.
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    job = Job.objects.create(
        kind="backup",
        db_path=str(tmp_path / "x.db"),
        actor="ada",
        state="running",
        **killed_process(),
    )
    html = job_page(login(client, "operator"), job)
    job.refresh_from_db()
    assert job.state == "interrupted"
    assert "restore" not in job.error
    assert "A backup only reads the database, so the database is as it was" in html


def test_the_jobs_list_shows_a_finished_jobs_result_not_its_last_step(client, live_db):
    live_db()
    job = start(login(client, "operator"), "backup")
    assert job.state == "succeeded", job.error
    html = client.get(reverse("core:jobs")).content.decode()
    row = html.split(f'href="{reverse("core:job", args=[job.pk])}"')[1].split("</tr>")[0]
    assert f"Verified backup {job.result['name']}" in row
    assert job.message not in row or job.message.startswith("Verified")
    backups = client.get(reverse("migrations_ui:backups")).content.decode()
    assert f"Verified backup {job.result['name']}" in backups


def test_the_migrations_page_and_the_rehearsal_job_say_the_same_time(client, live_db):
    # The page said 0.51 s (migrate only), the job 0.65 s (migrate and verify).
    live_db("legacy")
    job = start(login(client, "operator"), "rehearsal")
    assert job.state == "succeeded", job.error
    measured = job.result["downtime"]["measured_seconds"]
    assert measured == job.result["migrate_seconds"] + job.result["verify_seconds"]
    said = f"migrated and verified it in {measured:.2f} s"
    assert said in job_page(client, job)
    assert said in client.get(reverse("migrations_ui:migrations")).content.decode()
