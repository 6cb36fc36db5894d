"""Issue 12 journeys: pages that know their state, read at a glance, refresh themselves,
never trap a role, have the site's own 404, and fit a phone."""

import os
import sqlite3
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from conftest import sql

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


def use(settings, path, tmp_path):
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    return path


def role_login(login, django_user_model, role, username):
    user = django_user_model.objects.create_user(username, password="correct horse 42")
    user.groups.add(Group.objects.get(name=role))
    return login(username, "correct horse 42", superuser=False)


def plan_state(page):
    return page.locator("#plan-status").get_attribute("data-state")


def test_a_plans_buttons_follow_its_state_from_preview_to_undone(
    page, admin_login, live_server, settings, metamorph_db, tmp_path
):
    path = use(settings, metamorph_db("migrated", vaults=3), tmp_path)
    name = os.path.basename(path)
    admin_login()
    page.goto(f"{live_server.url}/remap/")
    page.fill("#move-form input[name=target]", "erin")
    page.click("#move-form button[type=submit]")
    page.wait_for_selector("#plan-status")
    plan_url = page.url
    assert plan_state(page) == "previewed"
    assert page.locator("#plan-state").inner_text() == "previewed, not run"
    assert page.locator("#execute-form").count() == 1 and page.locator("#undo-form").count() == 0
    assert page.locator("#execute-form .confirm-name").inner_text() == name
    assert set(page.locator("#plan-tables td.moved").all_inner_texts()) == {"0"}

    page.fill("#execute-form input[name=confirm]", name)
    page.click("#execute-form button[type=submit]")
    page.wait_for_selector("#job-summary")
    page.goto(plan_url)
    assert plan_state(page) == "completed"
    assert page.locator("#execute-form").count() == 0 and page.locator("#undo-form").count() == 1
    moved = dict(sql(path, "SELECT 'messages', COUNT(*) FROM messages WHERE vault_id = 'erin'"))
    cell = page.locator("#plan-tables tr[data-table=messages] td.moved").inner_text()
    assert cell == f"{moved['messages']:,}" and moved["messages"] > 0

    page.goto(f"{live_server.url}/remap/")
    row = page.locator("#remap-plans tbody tr").first
    assert "completed" in row.inner_text()

    page.goto(plan_url)
    page.fill("#undo-form input[name=confirm]", name)
    page.click("#undo-form button[type=submit]")
    page.wait_for_selector("#job-summary")
    page.goto(plan_url)
    assert plan_state(page) == "undone"
    assert page.locator("#execute-form").count() == 0 and page.locator("#undo-form").count() == 0


def test_a_backup_job_page_leads_with_a_summary_and_folds_the_raw_data(
    page, admin_login, live_server, settings, metamorph_db, tmp_path
):
    use(settings, metamorph_db("legacy"), tmp_path)
    admin_login()
    page.goto(f"{live_server.url}/backups/")
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#job-summary")
    headline = page.locator("#job-headline").inner_text()
    assert headline.startswith("Verified backup metamorph-backup-") and " MB" in headline
    facts = page.locator("#job-facts-summary").inner_text()
    assert "sha256" in facts and "True" not in facts and "None" not in facts
    assert page.locator("#job-percent").inner_text() == "100 %"
    assert not page.locator("#raw-result pre").is_visible()
    page.click("#raw-result summary")
    assert page.locator("#raw-result pre").is_visible()
    # the page is short: the summary, not an 18,000 px dump
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height
    page.click("#job-links >> text=Backup details")
    page.wait_for_selector("#backup-facts")
    page.click("#backup-facts >> text=/job #/")
    page.wait_for_selector("#job-summary")


def test_the_vaults_page_refreshes_itself_when_a_recount_finishes(
    page, login, live_server, settings, metamorph_db, tmp_path, role_groups, django_user_model
):
    path = use(settings, metamorph_db("migrated", vaults=3), tmp_path)
    role_login(login, django_user_model, "viewer", "vera")
    page.wait_for_selector("#distinct-vaults")
    assert page.locator("#distinct-vaults").inner_text() == "3"
    # From here recounts go to a real queue that a worker drains, as in production.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "UPDATE messages SET vault_id = 'zoe' WHERE rowid IN "
            "(SELECT rowid FROM messages LIMIT 5)"
        )
    conn.close()
    page.click("#recount")
    page.wait_for_selector("#snapshot-status[hx-get]")
    page.evaluate("window.__notReloaded = true")
    call_command("db_worker", batch=True, queue_name="*", verbosity=0)  # a worker reads
    page.wait_for_function(
        "document.getElementById('distinct-vaults').innerText === '4'", timeout=15000
    )
    assert page.evaluate("window.__notReloaded === undefined")  # htmx reloaded it, not us
    assert page.locator("#snapshot-status[hx-get]").count() == 0


def test_a_viewer_sees_disabled_actions_that_name_the_role_never_a_403(
    page, login, live_server, settings, metamorph_db, tmp_path, role_groups, django_user_model
):
    use(settings, metamorph_db("migrated"), tmp_path)
    role_login(login, django_user_model, "viewer", "vic")
    page.goto(f"{live_server.url}/backups/")
    back_up = page.locator("#backup-form button[type=submit]")
    assert back_up.is_disabled() and back_up.get_attribute("title") == "Needs the operator role"
    page.goto(f"{live_server.url}/migrations/")
    for button in page.locator("main button").all():
        assert button.is_disabled(), button.inner_text()
    assert "Needs the admin role" in page.locator("#rollback-form").inner_text()
    page.goto(f"{live_server.url}/remap/")
    previews = page.locator("form button[type=submit]", has_text="Preview")
    assert previews.count() >= 2
    for i in range(previews.count()):
        assert previews.nth(i).is_disabled()
    assert "admin role" in page.locator("#role-note").inner_text()
    previews.first.click(force=True)  # a disabled button goes nowhere
    assert page.url.endswith("/remap/") and "Not allowed" not in page.content()


def test_an_unknown_plan_and_an_unknown_url_get_the_sites_404_page(
    page, login, live_server, settings, metamorph_db, tmp_path
):
    use(settings, metamorph_db("migrated"), tmp_path)
    login()
    for url in ("/remap/plan/does-not-exist/", "/jobs/99999/", "/no/such/page/"):
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 404, url
        assert page.locator("h1").inner_text() == "Not found"
        assert page.locator("nav >> text=Vaults").is_visible()  # inside the site's layout


@pytest.mark.layout
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/vault/?id=user-0001",
        "/indexes/",
        "/health/",
        "/checks/",
        "/migrations/",
        "/backups/",
        "/remap/",
        "/jobs/",
        "/audit/",
    ],
)
def test_every_page_fits_a_390_px_phone_with_a_readable_nav(
    browser, live_server, settings, metamorph_db, tmp_path, django_user_model, url
):
    use(settings, metamorph_db("migrated", vaults=6), tmp_path)
    django_user_model.objects.create_superuser("pat", "pat@example.com", "correct horse 42")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "pat")
    page.fill("input[name=password]", "correct horse 42")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}{url}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{url} is {width} px wide"
    # every nav link sits on the dark header (not spilled onto the light page) and is light
    header = page.locator("header.top").bounding_box()
    for link in page.locator("header.top nav a").all():
        box = link.bounding_box()
        assert (
            box["y"] >= header["y"] and box["y"] + box["height"] <= header["y"] + header["height"]
        ), link.inner_text()
        assert box["x"] + box["width"] <= PHONE["width"]
        color = link.evaluate("e => getComputedStyle(e).color")
        assert contrast(color, "rgb(17, 24, 39)") >= 4.5, (link.inner_text(), color)
    context.close()


def contrast(fg, bg):
    def luminance(rgb):
        parts = [int(x) / 255 for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_the_matrix_sorts_by_a_clicked_column_and_downloads_as_csv(
    page, login, live_server, settings, metamorph_db, tmp_path
):
    path = use(settings, metamorph_db("migrated", vaults=6), tmp_path)
    login()
    page.click("#vault-matrix thead a[data-sort=messages]")
    page.wait_for_selector("#vault-matrix th[aria-sort=descending] a[data-sort=messages]")
    col = page.locator("#vault-matrix thead th").all_inner_texts().index("messages ▼")
    shown = [
        int(r.locator("td").nth(col).inner_text().replace(",", ""))
        for r in page.locator("#vault-matrix tbody tr").all()
    ]
    assert shown == sorted(shown, reverse=True) and len(shown) == 6
    page.click("#vault-matrix thead a[data-sort=messages]")  # again: the other way
    page.wait_for_selector("#vault-matrix th[aria-sort=ascending]")
    with page.expect_download() as download:
        page.click("#export-csv")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    counts = [int(line.split(",")[header.index("messages")]) for line in lines[1:-1]]
    assert counts == sorted(counts)
    assert sum(counts) == sql(path, "SELECT COUNT(*) FROM messages")[0][0]
