"""An admin backs up into the off-host repository, checks it from the Backups page and sees
the archive become restorable, in a real browser."""

import os

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists("/usr/bin/borg"), reason="make test installs borg"),
]


def test_admin_backs_up_into_the_repository_and_checks_it(
    page, admin_login, live_server, settings, metamorph_db, tmp_path, borg_password, monkeypatch
):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    settings.METAMORPH_BACKUP_REPOSITORY = str(tmp_path / "repo")
    settings.METAMORPH_BACKUP_PASSWORD_FILE = borg_password
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    admin_login()
    page.click("nav >> text=Backups")
    assert "Nothing stored yet." in page.locator("#repository").inner_text()
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    page.click("nav >> text=Backups")
    row = page.locator("#repository-archives tbody tr")
    assert row.count() == 1 and "not checked" in row.inner_text()
    assert "on this host and in the repository" in page.locator("#backups tbody tr").inner_text()
    assert "Last check: never" in " ".join(page.locator("#repository-check").inner_text().split())

    page.click("#check-backups-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    page.click("nav >> text=Backups")
    assert "restorable" in page.locator("#repository-archives tbody tr").inner_text()
    assert "passed" in page.locator("#repository-check").inner_text()
    page.screenshot(path=os.environ.get("SHOT", str(tmp_path / "backups.png")), full_page=True)
