"""The Migrations and Backups pages: roles, typed confirmations, jobs that really run."""

import sqlite3

from django.urls import reverse

from conftest import sql
from metamorph_admin.models import AuditRecord, Job
from metamorph_admin.tests.page_helpers import live_db, login  # noqa: F401 (live_db is a fixture)
from metamorph_admin.tests.page_helpers import post_job as start


def test_viewer_sees_the_plan_but_cannot_run_it(client, db, live_db):
    path = live_db("legacy")
    login(client, "viewer")
    page = client.get(reverse("migrations_ui:migrations")).content.decode()
    assert "ALTER TABLE &quot;sessions&quot; ADD COLUMN vault_id" in page
    assert "1-5 minutes" in page or "Metamorph&#x27;s guide" in page
    refused = start(client, "migration", confirm="x", max_backup_age_hours=24)
    assert refused.status_code == 403
    assert "admin role" in refused.content.decode()
    assert sql(path, "SELECT COUNT(*) FROM sqlite_master WHERE name='schema_migrations'") == [(0,)]


def test_wrong_typed_name_runs_nothing(client, db, live_db):
    path = live_db("legacy")
    login(client, "admin")
    response = start(
        client,
        "migration",
        confirm="metamorph.db",
        take_backup="on",
        max_backup_age_hours=24,
        next="/migrations/",
    )
    assert response.status_code == 302 and response.url == "/migrations/"
    assert not Job.objects.exists()
    follow = client.get("/migrations/").content.decode()
    assert "Type the database file name exactly" in follow
    assert sql(path, "SELECT COUNT(*) FROM sqlite_master WHERE name='schema_migrations'") == [(0,)]


def test_admin_migrates_from_the_page_with_a_backup_first(client, db, live_db):
    import os

    path = live_db("legacy")
    login(client, "admin")
    response = start(
        client,
        "migration",
        confirm=os.path.basename(path),
        take_backup="on",
        max_backup_age_hours=24,
    )
    job = Job.objects.get()
    assert response.url == reverse("core:job", args=[job.pk])
    assert job.state == "succeeded", job.error
    assert job.result["verification"]["ok"] is True
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations ORDER BY id")] == [
        "001_add_vault_id",
        "002_add_vercel_sandbox_tables",
    ]
    page = client.get(reverse("migrations_ui:migrations")).content.decode()
    assert "Nothing pending" in page and "Roll back" in page


def test_rollback_preview_counts_the_rows_002_would_delete(client, db, live_db):
    path = live_db("migrated")
    login(client, "admin")
    page = client.get(reverse("migrations_ui:migrations")).content.decode()
    lost = sum(
        sql(path, f"SELECT COUNT(*) FROM {t}")[0][0]
        for t in ("vercel_connections", "sandboxes", "sandbox_resource_usage")
    )
    assert f"{lost} rows would be deleted" in page


def test_operator_backs_up_and_the_page_lists_it_without_tokens(client, db, live_db):
    path = live_db("migrated")
    login(client, "operator")
    start(client, "backup", label="web")
    job = Job.objects.get(kind="backup")
    assert job.state == "succeeded", job.error
    page = client.get(reverse("migrations_ui:backups")).content.decode()
    assert job.result["name"] in page and "verified" in page
    job_page = client.get(reverse("core:job", args=[job.pk])).content.decode()
    for token, refresh in sql(path, "SELECT access_token, refresh_token FROM vercel_connections"):
        assert token not in page + job_page and refresh not in page + job_page


def test_operator_cannot_restore_but_admin_can_with_the_typed_name(client, db, live_db):
    import os

    path = live_db("migrated")
    login(client, "operator")
    start(client, "backup")
    name = Job.objects.get(kind="backup").result["name"]
    assert start(client, "restore", name=name, confirm=os.path.basename(path)).status_code == 403
    login(client, "admin")
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM sessions")
    conn.commit()
    conn.close()
    start(client, "restore", name=name, confirm=os.path.basename(path))
    job = Job.objects.get(kind="restore")
    assert job.state == "succeeded", job.error
    assert sql(path, "SELECT COUNT(*) FROM sessions")[0][0] > 0


def test_a_wrong_typed_confirmation_is_audited_as_refused_with_what_was_typed(client, db, live_db):
    path = live_db("legacy")
    login(client, "admin")
    start(
        client,
        "restore",
        confirm="metamorph.db",
        name="metamorph-backup-20260101-000000.db",
        next="/backups/",
    )
    record = AuditRecord.objects.get()
    assert (record.action, record.outcome, record.actor) == ("restore", "refused", "admin-user")
    assert record.target == path
    assert record.message == (
        f"Type the database file name exactly ({path.rsplit('/', 1)[1]}) to confirm."
    )
    assert record.parameters == {
        "confirm": "metamorph.db",
        "name": "metamorph-backup-20260101-000000.db",
    }
    assert not Job.objects.exists()


def test_an_out_of_range_form_value_is_audited_as_refused(client, db, live_db):
    live_db("migrated")
    login(client, "operator")
    start(client, "backup", keep="0")
    record = AuditRecord.objects.get()
    assert (record.action, record.outcome) == ("backup", "refused")
    assert "greater than or equal to 1" in record.message and record.parameters["keep"] == "0"


def test_the_backup_form_offers_a_quick_check_and_the_list_shows_it(client, db, live_db):
    live_db("migrated")
    login(client, "operator")
    page = client.get(reverse("migrations_ui:backups")).content.decode()
    assert 'name="verify"' in page and "quick_check" in page
    start(client, "backup", verify="quick", label="nightly")
    job = Job.objects.get()
    assert job.state == "succeeded", job.error
    assert job.result["verify_mode"] == "quick"
    listed = client.get(reverse("migrations_ui:backups")).content.decode()
    assert '<span class="muted verify-mode">quick check</span>' in listed


def test_a_checksum_from_another_build_is_shown_as_information(client, db, live_db):
    path = live_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE id = '001_add_vault_id'")
    conn.commit()
    conn.close()
    login(client, "viewer")
    for name in ("migrations_ui:migrations", "vaults:health"):
        page = client.get(reverse(name)).content.decode()
        assert (
            '<code>deadbeef</code> <span class="muted checksum-note">applied by another '
            "build</span>" in page
        ), name
        assert '<code>4f41dc34</code> <span class="muted checksum-note">same as Metamorph' in (
            page
        ), name
        assert "mismatch" not in page.lower(), name
