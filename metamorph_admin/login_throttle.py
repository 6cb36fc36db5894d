"""Login throttling without denial of service: failures count per user name *and* address
(django-axes, AXES_LOCKOUT_PARAMETERS). From the LOGIN_DELAY_AFTER-th failure on, the next
try of that name from that address waits LOGIN_DELAY_SECONDS, then twice as long after each
further failure; at LOGIN_FAILURE_LIMIT failures the pair is locked until an admin unlocks it
(Audit page, or `manage.py axes_reset_ip_username ADDRESS NAME`). A try during the wait is
refused before the password is checked and does not count.

Someone who knows a user name can therefore slow down and lock only *their own address* for
it: the real user logging in from another address is not affected.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.utils import timezone

from metamorph_admin import audit
from metamorph_admin.models import AuditRecord


def _attempt(username, address):
    return (
        AccessAttempt.objects.filter(username=username, ip_address=address)
        .order_by("-attempt_time")
        .first()
    )


def delay_after(failures):
    """How long the next try waits after `failures` failures (0: no wait)."""
    if failures < settings.LOGIN_DELAY_AFTER:
        return 0.0
    return settings.LOGIN_DELAY_SECONDS * 2 ** (failures - settings.LOGIN_DELAY_AFTER)


def wait_left(username, address, now=None):
    """Seconds `username` must still wait before a try from `address` (0: may try now; a
    hard-locked pair is axes' to refuse)."""
    attempt = _attempt(username, address)
    if attempt is None or attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT:
        return 0.0
    ready = attempt.attempt_time + timedelta(seconds=delay_after(attempt.failures_since_start))
    return max(0.0, (ready - (now or timezone.now())).total_seconds())


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing a try that comes before its wait is over."""

    delayed = False

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = audit.client_address(self.request) if self.request else None
        left = wait_left(username, address)
        if left > 0:
            self.delayed = True
            message = (
                f"Too many failed logins for {username!r} from your address: wait "
                f"{math.ceil(left)} s before the next try (each failure doubles the wait; "
                f"after {settings.AXES_FAILURE_LIMIT} an admin must unlock it)."
            )
            audit.record(
                "login-delayed",
                audit.Actor(username or "anonymous", remote_addr=address),
                outcome=AuditRecord.Outcome.REFUSED,
                target=self.request.path if self.request else "",
                parameters={"username": username},
                message=message,
            )
            raise ValidationError(message, code="delayed")
        return super().clean()


class ThrottledLoginView(LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.delayed:
            response.status_code = 429
        return response


@dataclass(frozen=True)
class LoginLock:
    username: str
    address: str
    failures: int
    last_failure: object
    locked: bool  # hard-locked until an admin unlocks it
    wait_seconds: float  # else: how long the next try still waits


def current_locks(now=None):
    """Every (name, address) pair that is locked or waiting, newest first (the Audit page)."""
    now = now or timezone.now()
    found = []
    for a in AccessAttempt.objects.filter(
        failures_since_start__gte=settings.LOGIN_DELAY_AFTER
    ).order_by("-attempt_time")[:200]:
        locked = a.failures_since_start >= settings.AXES_FAILURE_LIMIT
        left = 0.0 if locked else wait_left(a.username, a.ip_address, now)
        if locked or left > 0:
            found.append(
                LoginLock(
                    a.username, a.ip_address, a.failures_since_start, a.attempt_time, locked, left
                )
            )
    return found


def unlock(username, address):
    """Forget the failures of `username` from `address`; how many records went."""
    deleted, _ = AccessAttempt.objects.filter(username=username, ip_address=address).delete()
    return deleted
