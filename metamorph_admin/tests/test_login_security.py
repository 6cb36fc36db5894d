"""Login throttling (django-axes + login_throttle): per username and address, a growing wait,
then a lock an admin lifts; every failure audited; a refused request logs one line."""

import io
import logging
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

from metamorph_admin.models import AuditRecord
from metamorph_admin.tests.job_helpers import test_kinds, user_with_role  # noqa: F401

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse 42"


HOME, ELSEWHERE = "203.0.113.7", "198.51.100.9"


def _login(client, password, username="vera", address=HOME):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def _logged_in(client):
    return client.get(reverse("vaults:health")).status_code != 302


@pytest.fixture
def vera(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_DELAY_SECONDS = 0  # the waits have their own test
    return user_with_role("viewer", "vera", password=PASSWORD)


def test_five_wrong_passwords_lock_the_username_even_for_the_right_password(client, vera):
    for attempt in range(4):
        response = _login(client, f"wrong-{attempt}")
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()
    fifth = _login(client, "wrong-5")
    assert fifth.status_code == 429
    assert "Too many failed logins" in fifth.content.decode()
    right = _login(client, PASSWORD)
    assert right.status_code == 429 and not _logged_in(client)


def test_failed_logins_and_the_lockout_are_audited_without_the_password(client, vera):
    for attempt in range(6):
        _login(client, f"secret-typo-{attempt}")
    rows = list(AuditRecord.objects.order_by("id"))
    # The lockout is recorded as the fifth failure locks the username, then that failure.
    assert [r.action for r in rows] == ["login-failed"] * 4 + ["login-lockout"] + [
        "login-failed"
    ] * 2
    assert {r.outcome for r in rows} == {"refused"}
    assert {r.actor for r in rows} == {"vera"} and {r.user_id for r in rows} == {vera.id}
    assert {r.remote_addr for r in rows} == {"203.0.113.7"}
    assert rows[0].message == "Wrong username or password (1 of 5 before a lockout)."
    assert "may not log in from 203.0.113.7 until an admin unlocks it" in rows[4].message
    assert "axes_reset_ip_username 203.0.113.7 vera" in rows[4].message
    assert "other addresses are not affected" in rows[4].message
    assert rows[5].message == "Wrong username or password (5 of 5 before a lockout)."
    assert rows[6].message.startswith("Refused without checking the password")
    dumped = " ".join(f"{r.parameters} {r.message}" for r in rows)
    assert "secret-typo" not in dumped


def test_an_unknown_username_is_audited_and_locked_too(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_DELAY_SECONDS = 0
    _login(client, "x", username="mallory")
    assert _login(client, "y", username="mallory").status_code == 429
    assert list(AuditRecord.objects.filter(actor="mallory").values_list("action", "user")) == [
        ("login-failed", None),
        ("login-lockout", None),
        ("login-failed", None),
    ]


def test_a_lock_holds_until_an_admin_unlocks_it_unless_a_cool_off_is_set(client, vera, settings):
    for _ in range(5):
        _login(client, "wrong")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(days=30)
    )
    assert _login(client, PASSWORD).status_code == 429
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)  # LOGIN_LOCKOUT_MINUTES=15
    assert _login(client, PASSWORD).status_code == 302 and _logged_in(client)
    assert not AccessAttempt.objects.exists()


def test_an_admin_can_lift_a_lockout_with_the_documented_commands(client, vera):
    for _ in range(5):
        _login(client, "wrong")
    call_command("axes_reset_ip_username", HOME, "vera", stdout=io.StringIO())
    assert _login(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(5):
        _login(client, "wrong")
    call_command("axes_reset_username", "vera", stdout=io.StringIO())
    assert _login(client, PASSWORD).status_code == 302


def test_a_lockout_from_another_address_does_not_keep_the_real_user_out(client, vera):
    for attempt in range(6):
        _login(client, f"guess-{attempt}", address=ELSEWHERE)
    assert _login(client, PASSWORD, address=ELSEWHERE).status_code == 429
    assert _login(client, PASSWORD, address=HOME).status_code == 302 and _logged_in(client)


def test_failures_make_each_next_try_wait_longer_before_the_lock(client, vera, settings):
    settings.LOGIN_DELAY_SECONDS = 60  # generous: the test never races the clock
    for attempt in range(3):
        assert _login(client, f"wrong-{attempt}").status_code == 200
    waiting = _login(client, PASSWORD)  # refused before the password is checked
    assert waiting.status_code == 429 and not _logged_in(client)
    said = re.search(
        r"from your address: wait (\d+) s before the next try", waiting.content.decode()
    )
    assert said and 0 < int(said.group(1)) <= 60
    assert AccessAttempt.objects.get().failures_since_start == 3  # the try did not count
    assert _login(client, PASSWORD, address=ELSEWHERE).status_code == 302
    client.logout()

    def later(seconds):
        AccessAttempt.objects.update(
            attempt_time=AccessAttempt.objects.get(ip_address=HOME).attempt_time
            - timedelta(seconds=seconds)
        )

    later(61)
    assert _login(client, "wrong-again").status_code == 200  # 4 failures: next wait 120 s
    later(61)  # 61 of the 120 s have passed
    said = re.search(r"wait (\d+) s", _login(client, PASSWORD).content.decode())
    assert said and 0 < int(said.group(1)) <= 59
    later(61)
    assert _login(client, PASSWORD).status_code == 302
    delayed = AuditRecord.objects.filter(action="login-delayed")
    assert delayed.count() >= 2 and {r.remote_addr for r in delayed} == {HOME}


def test_an_admin_sees_and_lifts_a_lock_on_the_audit_page(client, vera):
    for _ in range(5):
        _login(client, "wrong", address=ELSEWHERE)
    viewer = user_with_role("viewer", "vic")
    client.force_login(viewer)
    assert client.post(reverse("core:login_unlock")).status_code == 403
    client.force_login(user_with_role("admin", "ada"))
    page = client.get(reverse("core:audit")).content.decode()
    assert 'id="login-locks"' in page and ELSEWHERE in page
    done = client.post(
        reverse("core:login_unlock"), {"username": "vera", "address": ELSEWHERE}, follow=True
    )
    assert f"Unlocked &#x27;vera&#x27; from {ELSEWHERE}." in done.content.decode()
    assert not AccessAttempt.objects.exists()
    record = AuditRecord.objects.get(action="login-unlock", outcome="success")
    assert record.actor == "ada" and record.parameters == {"username": "vera", "address": ELSEWHERE}
    client.logout()
    assert _login(client, PASSWORD, address=ELSEWHERE).status_code == 302


def test_a_lockout_of_one_username_does_not_lock_another_from_the_same_address(client, vera):
    user_with_role("viewer", "otto", password=PASSWORD)
    for _ in range(5):
        _login(client, "wrong")
    assert _login(client, PASSWORD, username="otto").status_code == 302


@pytest.mark.usefixtures("test_kinds")
def test_a_403_writes_one_line_to_the_server_log_without_a_traceback(client, caplog):
    client.force_login(user_with_role("viewer", "vera"))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post(reverse("core:start_job", args=["test-mutation"]))
    assert response.status_code == 403
    handler_filter = logging.getHandlerByName("console").filters[0]
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    handler_filter.filter(records[0])
    line = logging.Formatter().format(records[0])
    assert line == (
        "Forbidden (Permission denied): /jobs/start/test-mutation/ (POST, 403, user=vera)"
    )
    assert "\n" not in line and "Traceback" not in line
