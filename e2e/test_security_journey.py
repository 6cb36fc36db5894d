"""Someone guesses a password in a real browser: locked out (from that address) after five
tries, and the admin reads every try in the audit trail."""

import pytest

from metamorph_admin.models import AuditRecord

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_five_wrong_passwords_lock_the_login_and_each_try_is_audited(
    page, live_server, django_user_model, settings
):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_DELAY_SECONDS = 0  # the growing wait has its own test
    django_user_model.objects.create_user("olga", password="correct horse 42")
    for attempt in range(5):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", f"guess {attempt}")
        page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Login locked"
    assert "Too many failed logins" in page.locator("#lockout").inner_text()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "correct horse 42")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Login locked"  # even the right password
    actions = list(
        AuditRecord.objects.filter(actor="olga").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["login-failed"] * 4 + ["login-lockout"] + ["login-failed"] * 2
