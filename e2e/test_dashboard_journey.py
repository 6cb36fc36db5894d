"""An operator logs in and reads the vault matrix off the page in a real browser."""

import pytest

from conftest import sql

pytestmark = [pytest.mark.browser, pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_operator_logs_in_and_reads_the_vault_matrix(
    page, login, live_server, settings, metamorph_db
):
    path = metamorph_db("migrated", vaults=6)
    settings.METAMORPH_DATABASE_PATH = path
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url  # login required
    login()
    page.wait_for_selector("#vault-matrix")
    headers = page.locator("#vault-matrix thead th").all_inner_texts()
    col = headers.index("messages")
    expected = dict(sql(path, "SELECT vault_id, COUNT(*) FROM messages GROUP BY 1"))
    rows = page.locator("#vault-matrix tbody tr")
    assert rows.count() == len(expected)
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert int(cells[col].replace(",", "")) == expected[cells[0]]
    assert page.locator("#distinct-vaults").inner_text() == "6"
    bars = page.locator("figure.chart g.barrow")
    assert bars.count() == 6


def test_operator_follows_a_vault_and_then_index_health(
    page, login, live_server, settings, metamorph_db
):
    path = metamorph_db("autoupgraded")
    settings.METAMORPH_DATABASE_PATH = path
    login()
    page.click("#vault-matrix tbody tr >> nth=0 >> a")
    page.wait_for_selector("#vault-total")
    total = sum(
        sql(path, f"SELECT COUNT(*) FROM {t}")[0][0]
        for t in (
            "sessions",
            "messages",
            "conversations",
            "semantic_memory",
            "identity",
            "evolution_snapshots",
            "operator_performance",
            "subagent_results",
            "emotional_arcs",
            "emotion_context",
        )
    )
    assert page.locator("#vault-total").inner_text() == f"{total:,}"
    page.click("nav >> text=Indexes")
    missing = page.locator(
        "#expected-indexes tr[data-index=idx_messages_vault_conversation] .badge"
    )
    assert missing.inner_text() == "missing"
    page.click("nav >> text=Checks")
    assert (
        "missing on: session_states" in page.locator("[data-check=partial_migration]").inner_text()
    )


def test_wrong_password_keeps_the_operator_out(page, live_server, django_user_model):
    django_user_model.objects.create_user("ivan", password="right-password-1")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ivan")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    page.get_by_text("didn't match").first.wait_for()  # the page the click loads
    assert "/login/" in page.url
