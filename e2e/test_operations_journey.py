"""An admin backs up, migrates with a typed confirmation, and reads the results in a browser."""

import os

import pytest
from django.contrib.auth.models import Group

from conftest import sql

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_backs_up_then_migrates_and_sees_it_verified(
    page, admin_login, live_server, settings, metamorph_db, tmp_path
):
    path = metamorph_db("legacy")
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    admin_login()
    page.click("nav >> text=Backups")
    page.fill("#backup-form input[name=label]", "before migration")
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    page.click("nav >> text=Backups")
    assert page.locator("#backups tbody tr").count() == 1
    assert "verified" in page.locator("#backups tbody tr").inner_text()

    page.click("nav >> text=Migrations")
    assert "pending" in page.locator("#migration-status").inner_text()
    page.fill("#run-form input[name=confirm]", "wrong-name.db")
    page.click("#run-form button[type=submit]")
    page.get_by_text(
        "Type the database file name exactly"
    ).first.wait_for()  # the page the click loads
    page.fill("#run-form input[name=confirm]", os.path.basename(path))
    page.click("#run-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    assert "Applied 001_add_vault_id" in page.locator("#job-headline").inner_text()
    assert "row_counts" in page.locator("#raw-result").text_content()  # folded away
    assert not page.locator("#raw-result pre").is_visible()
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations ORDER BY id")] == [
        "001_add_vault_id",
        "002_add_vercel_sandbox_tables",
    ]
    page.click("nav >> text=Vaults")
    page.click("text=Recount now")
    page.wait_for_selector("#vault-matrix")
    assert page.locator("#distinct-vaults").inner_text() == "1"


def test_viewer_is_told_which_role_a_backup_needs(
    page, login, live_server, settings, role_groups, metamorph_db, tmp_path, django_user_model
):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    user = django_user_model.objects.create_user("vic", password="correct horse 42")
    user.groups.add(Group.objects.get(name="viewer"))
    login("vic", "correct horse 42", superuser=False)
    page.click("nav >> text=Backups")
    button = page.locator("#backup-form button[type=submit]")
    assert button.is_disabled()
    assert page.locator("#backup-form .needs-role").inner_text() == "Needs the operator role"
