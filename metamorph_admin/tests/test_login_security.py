"""Login throttling (django-axes): lockout after repeated failures, every failure audited;
a refused request logs one line, not a traceback."""

import io
import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

from metamorph_admin.models import AuditRecord
from metamorph_admin.tests.job_helpers import test_kinds, user_with_role  # noqa: F401

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse 42"


def _login(client, password, username="vera"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7"
    )


def _logged_in(client):
    return client.get(reverse("vaults:health")).status_code != 302


@pytest.fixture
def vera(settings):
    settings.AXES_FAILURE_LIMIT = 5
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
    assert "may not log in for 15 minutes" in rows[4].message
    assert "axes_reset_username vera" in rows[4].message
    assert rows[5].message == "Wrong username or password (5 of 5 before a lockout)."
    assert rows[6].message.startswith("Refused without checking the password")
    dumped = " ".join(f"{r.parameters} {r.message}" for r in rows)
    assert "secret-typo" not in dumped


def test_an_unknown_username_is_audited_and_locked_too(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    _login(client, "x", username="mallory")
    assert _login(client, "y", username="mallory").status_code == 429
    assert list(AuditRecord.objects.filter(actor="mallory").values_list("action", "user")) == [
        ("login-failed", None),
        ("login-lockout", None),
        ("login-failed", None),
    ]


def test_the_lockout_ends_after_the_cool_off_and_a_good_login_resets_the_count(client, vera):
    for _ in range(5):
        _login(client, "wrong")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert _login(client, PASSWORD).status_code == 302 and _logged_in(client)
    assert not AccessAttempt.objects.exists()


def test_an_admin_can_lift_a_lockout_with_axes_reset_username(client, vera):
    for _ in range(5):
        _login(client, "wrong")
    call_command("axes_reset_username", "vera", stdout=io.StringIO())
    assert _login(client, PASSWORD).status_code == 302


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
