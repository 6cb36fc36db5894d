"""An admin moves the legacy vault to a user's vault from the Remap page and sees it land."""

import os

import pytest

from conftest import sql

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_previews_executes_and_undoes_a_whole_vault_move(
    page, admin_login, live_server, settings, metamorph_db, tmp_path
):
    path = metamorph_db("migrated", vaults=3)
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    legacy = sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'default-vault'")[0][0]
    admin_login()
    page.click("nav >> text=Remap")
    assert "clean" in page.locator("#isolation-audit").inner_text()
    page.fill("#move-form input[name=target]", "bad:id")
    page.click("#move-form button[type=submit]")
    page.get_by_text("session keys").first.wait_for()  # the page the click loads
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
        legacy
    )


def test_admin_splits_a_real_file_by_session_ids_and_sends_what_cannot_be_attributed(
    page, admin_login, live_server, settings, metamorph_db, tmp_path
):
    path = metamorph_db("migrated", sessions=40, vaults=1, shape="observed")
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions ORDER BY id")]
    mapping = tmp_path / "sessions.csv"
    mapping.write_text(
        "conversation_id,vault_id\n"
        + "".join(f"{s},user-{'ann' if n % 2 else 'ben'}\n" for n, s in enumerate(sessions))
    )
    admin_login()
    page.click("nav >> text=Remap")
    page.set_input_files("#mapping-form input[name=mapping]", str(mapping))
    page.select_option("#mapping-form select[name=unattributed]", "send")
    page.fill("#mapping-form input[name=unattributed_vault]", "team")
    page.click("#mapping-form button[type=submit]")
    page.wait_for_selector("#moves-total")
    assert "sessions.id" in page.locator("#plan-mapping-ids").inner_text()
    assert "operator_performance" in page.locator("#plan-unattributable").inner_text()
    page.fill("#execute-form input[name=confirm]", os.path.basename(path))
    page.click("#execute-form button[type=submit]")
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"
    assert sql(path, "SELECT DISTINCT vault_id FROM operator_performance") == [("team",)]
    assert (
        sql(
            path,
            "SELECT COUNT(*) FROM evolution_snapshots s JOIN sessions x ON x.id = "
            "s.conversation_id WHERE s.vault_id != x.vault_id",
        )[0][0]
        == 0
    )
    page.click("nav >> text=Remap")
    assert "clean" in page.locator("#isolation-audit").inner_text()
