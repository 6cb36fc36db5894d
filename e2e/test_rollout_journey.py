"""One rollout in a browser: from the pre-migration checklist to a signed phase 2 on a staging
database, with live checks against a fake Metamorph server, and the exported report."""

import pytest
from django.contrib.auth.models import Group

from conftest import sql
from metamorph.testing.fake_server import FakeMetamorph
from rollouts import exports

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _user(model, name, role):
    user = model.objects.create_user(name, password="correct horse 42")
    user.groups.add(Group.objects.get(name=role))


def _switch(page, name):
    page.select_option("#db-switch", name)
    page.click(".dbswitch button")
    assert page.locator(".dbswitch code").get_attribute("data-database") == name


def _job(page, selector):
    page.click(selector)
    page.wait_for_selector("#job-state")
    assert page.locator("#job-state").inner_text() == "Succeeded"


def _run(page, key):
    page.click(f"#item-{key} button")
    row = page.locator(f"#item-{key}")
    return row.get_attribute("data-status"), row.inner_text()


def _attest(page, key, note):
    page.fill(f"#item-{key} textarea", note)
    page.click(f"#item-{key} button")
    assert page.locator(f"#item-{key}").get_attribute("data-status") == "attested"


def test_checklist_to_signed_phase_two_and_the_report(
    page, login, live_server, settings, role_groups, metamorph_db, tmp_path, django_user_model
):
    staging, production = metamorph_db("migrated"), metamorph_db("legacy")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    _user(django_user_model, "oscar", "operator")
    _user(django_user_model, "ada", "admin")
    a, b = [
        r[0]
        for r in sql(
            staging,
            "SELECT vault_id FROM semantic_memory GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 2",
        )
    ]
    with FakeMetamorph(staging, mode="dev", tokens={"tok-A": a, "tok-B": b}) as server:
        # The operator prepares production: a verified backup and a rehearsal.
        login("oscar", "correct horse 42", superuser=False)
        _switch(page, "production")
        page.click("nav >> text=Backups")
        _job(page, "#backup-form button[type=submit]")
        page.click("nav >> text=Migrations")
        _job(page, "#rehearse")

        page.click("nav >> text=Rollouts")
        page.fill("#rollout-form input[name=name]", "vaults q4")
        page.select_option("#rollout-form select[name=staging]", "staging")
        page.select_option("#rollout-form select[name=production]", "production")
        page.fill("#rollout-form input[name=staging_url]", server.url)
        page.click("#rollout-form button[type=submit]")
        assert "Pre-migration checklist" in page.locator("[data-current-phase]").inner_text()

        for key in ("checklist-backup", "checklist-row-counts", "checklist-downtime"):
            status, text = _run(page, key)
            assert status == "pass", text
        assert "rows" in page.locator("#item-checklist-row-counts .numbers").inner_text()
        _attest(page, "checklist-staging", "staging restored from last night's backup")
        _attest(page, "checklist-environment", "EMBLEM_DEV_MODE, JWKS URL reviewed with Sam")

        # Phase 1 against the development server (dev mode): the tool says what the curl
        # check cannot show, and the database audit is the evidence.
        assert _run(page, "p1-server")[0] == "pass"
        status, text = _run(page, "p1-dev-mode")
        assert status == "info" and "ignores the X-Vault-Id header" in text
        _attest(page, "p1-two-vaults", "wrote sessions as two test users")
        assert _run(page, "p1-isolation")[0] == "pass"

        # Phase 2 on staging: backup, verification, indexes, isolation, two real tokens.
        _switch(page, "staging")
        page.click("nav >> text=Backups")
        _job(page, "#backup-form button[type=submit]")
        page.click("nav >> text=Migrations")
        _job(page, "text=Verify now")
        page.click("nav >> text=Rollouts")
        page.click("text=vaults q4")
        for key in ("p2-backup", "p2-migration", "p2-indexes", "p2-isolation"):
            status, text = _run(page, key)
            assert status == "pass", (key, text)
        server.mode = "prod"
        page.fill("#item-p2-tokens input[name=token_a]", "tok-A")
        page.fill("#item-p2-tokens input[name=token_b]", "tok-B")
        page.click("#item-p2-tokens button")
        assert page.locator("#item-p2-tokens").get_attribute("data-status") == "pass"
        assert "tok-A" not in page.content()
        assert page.locator("#phase-0 form.sign").count() == 0  # an operator cannot sign
        page.click("form.logout button")

        # Another person, an admin who ran none of it, signs in order.
        login("ada", "correct horse 42", superuser=False)
        page.goto(f"{live_server.url}/rollouts/")
        page.click("text=vaults q4")
        page.click("#phase-2 form.sign button")
        page.get_by_text(
            "phases are reviewed in order"
        ).first.wait_for()  # the page the click loads
        for phase in (0, 1, 2):
            page.click(f"#phase-{phase} form.sign button")
            assert page.locator(f"#phase-{phase}").get_attribute("data-state") == "signed", (
                page.locator(".flash").all_inner_texts()
            )
        assert "Phase 3" in page.locator("[data-current-phase]").inner_text()
        assert "Phase 2: Staging: ada" in page.locator("#glance").inner_text().replace("\n", " ")
        assert "signed" in page.locator("#timeline").inner_text()

        with page.expect_download() as download:
            page.click("#glance >> text=HTML (A4)")
        text = open(download.value.path(), encoding="utf-8").read()
    verdict = exports.verify(text)
    assert verdict.ok and "exported by ada from the web" in verdict.message, verdict.message
    assert "Signed by <strong>ada</strong>" in text and "tok-A" not in text
    assert "staging restored from last night" in text
