"""Layouts an operator reads at 390 and 1280 px: the rollout page stacks its items on a phone
(no vertical badges, no words split mid-word), the header's Switch stays one word, and a
table wider than the window says there are more columns."""

import pytest

from metamorph_admin import databases
from rollouts import services

pytestmark = [pytest.mark.browser, pytest.mark.layout, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.children.length)
  .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)} px ${e.textContent.slice(0, 50)}`)
  .slice(0, 8)"""


@pytest.fixture
def two_databases(settings, metamorph_db, tmp_path):
    staging, production = metamorph_db("migrated"), metamorph_db("legacy")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    return staging, production


def _signed_in(browser, live_server, django_user_model, viewport):
    if not django_user_model.objects.filter(username="pat").exists():
        django_user_model.objects.create_superuser("pat", "pat@example.com", "correct horse 42")
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "pat")
    page.fill("input[name=password]", "correct horse 42")
    page.click("button[type=submit]")
    page.wait_for_selector("header.top nav")
    return context, page


def _rollout():
    rollout = services.create_rollout(
        name="move to vaults",
        staging=databases.get("staging"),
        production=databases.get("production"),
        actor="pat",
    )
    services.run_phase_checks(rollout, 0, actor="pat")
    return rollout


def test_the_rollout_page_stacks_its_items_on_a_phone(
    browser, live_server, django_user_model, two_databases
):
    rollout = _rollout()
    context, page = _signed_in(browser, live_server, django_user_model, PHONE)
    page.goto(f"{live_server.url}/rollouts/{rollout.pk}/")
    page.wait_for_selector("table.items")
    wide = page.evaluate(WIDE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
    for badge in page.locator("table.items .badge").all():
        box = badge.bounding_box()
        assert box["height"] < 2 * line, badge.inner_text()  # one line, never letter by letter
    for cell in page.locator("table.items > tbody > tr > td").all()[:20]:
        assert cell.bounding_box()["width"] >= 300  # a whole row wide, not a squeezed column
    # no word split across lines: every summary word fits on one line of its cell
    split = page.evaluate(
        """() => [...document.querySelectorAll('table.items .summary')].filter(e => {
             const r = document.createRange(); r.selectNodeContents(e);
             const words = e.textContent.split(/\\s+/).filter(w => w.length > 3 && w.length < 30);
             return words.some(w => { const probe = document.createElement('span');
               probe.textContent = w; probe.style.whiteSpace = 'nowrap'; e.appendChild(probe);
               const wide = probe.getBoundingClientRect().width > e.clientWidth;
               probe.remove(); return wide; });
           }).length"""
    )
    assert split == 0
    context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_the_headers_switch_button_stays_on_one_line(
    browser, live_server, django_user_model, two_databases, viewport
):
    rollout = _rollout()
    context, page = _signed_in(browser, live_server, django_user_model, viewport)
    for url in ("/no/such/page/", f"/rollouts/{rollout.pk}/", "/jobs/"):
        page.goto(f"{live_server.url}{url}")
        button = page.locator(".dbswitch button")
        height = button.bounding_box()["height"]
        line = button.evaluate("e => parseFloat(getComputedStyle(e).fontSize) * 2.2")
        assert height < line, f"Switch wraps on {url} at {viewport['width']} px"
    context.close()


def test_the_vaults_matrix_says_it_has_more_columns_at_1280_px(
    browser, live_server, django_user_model, settings, metamorph_db, tmp_path
):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated", optional_tables=True)
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    context, page = _signed_in(browser, live_server, django_user_model, DESKTOP)
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("#vault-matrix")
    box = page.locator(".scroll:has(#vault-matrix)")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")
    cue = page.locator(".scroll-cue").first
    cue.wait_for(state="visible")
    assert "More columns to the right" in cue.inner_text()
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; e.dispatchEvent(new Event('scroll')); }")
    page.wait_for_function(
        "() => document.querySelector('.scroll-cue').textContent.includes('scroll back')"
    )
    context.close()
