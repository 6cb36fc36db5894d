"""An admin moves the legacy vault to a user's vault from the Remap page and sees it land."""
import os

import pytest

from conftest import sql

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_previews_executes_and_undoes_a_whole_vault_move(page, admin_login, live_server,
                                                               settings, metamorph_db, tmp_path):
    path = metamorph_db("migrated", vaults=3)
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    legacy = sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'default-vault'")[0][0]
    admin_login()
    page.click("nav >> text=Remap")
    assert "clean" in page.locator("#isolation-audit").inner_text()
    page.fill("#move-form input[name=target]", "bad:id")
    page.click("#move-form button[type=submit]")
    assert "session keys" in page.content()
    page.fill("#move-form input[name=target]", "erin")
    page.click("#move-form button[type=submit]")
    page.wait_for_selector("#moves-total")
    assert "erin" in page.locator("#plan-targets").inner_text()
    page.fill("#execute-form input[name=confirm]", os.path.basename(path))
    page.click("#execute-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'erin'")[0][0] == legacy
    page.go_back()
    page.reload()
    page.fill("#undo-form input[name=confirm]", os.path.basename(path))
    page.click("#undo-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'default-vault'")[0][0] == (
        legacy)
