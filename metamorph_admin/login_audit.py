"""Failed logins and lockouts go into the audit trail (django-axes does the counting)."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from metamorph_admin import audit
from metamorph_admin.models import AuditRecord

REFUSED = AuditRecord.Outcome.REFUSED


def _how_long(username, address):
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    if minutes:
        return f"for {minutes:g} minute{'' if minutes == 1 else 's'} after the last failure"
    return (
        "until an admin unlocks it (Audit page, or `python manage.py axes_reset_ip_username "
        f"{address} {username}`)"
    )


def _record(request, action, username, message):
    username = (username or "")[:150]
    user = get_user_model().objects.filter(username=username).first() if username else None
    actor = audit.Actor(
        username or "anonymous",
        user=user,
        remote_addr=audit.client_address(request) if request is not None else None,
    )
    audit.record(
        action,
        actor,
        outcome=REFUSED,
        target=request.path if request is not None else "",
        parameters={"username": username},
        message=message,
    )


def _locked_before(request):
    """True when axes refused the attempt without checking the password (already locked)."""
    return (
        getattr(request, "axes_locked_out", False)
        and getattr(request, "axes_failures_since_start", None) is None
    )


@receiver(user_login_failed, dispatch_uid="metamorph-audit-login-failed")
def audit_failed_login(sender, credentials, request=None, **kwargs):
    username = credentials.get("username", "")
    if request is not None and _locked_before(request):
        address = audit.client_address(request)
        message = (
            f"Refused without checking the password: {username!r} is locked out from "
            f"{address} after {settings.AXES_FAILURE_LIMIT} failed logins "
            f"({_how_long(username, address)})."
        )
    else:
        failures = getattr(request, "axes_failures_since_start", None)
        count = (
            f" ({failures} of {settings.AXES_FAILURE_LIMIT} before a lockout)" if failures else ""
        )
        message = f"Wrong username or password{count}."
    _record(request, "login-failed", username, message)


@receiver(user_locked_out, dispatch_uid="metamorph-audit-lockout")
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    if request is not None and getattr(request, "axes_failures_since_start", None) is None:
        return  # a refused attempt during the lockout: audit_failed_login records it
    address = audit.client_address(request) if request is not None else ip_address
    _record(
        request,
        "login-lockout",
        username,
        f"{settings.AXES_FAILURE_LIMIT} failed logins: {username!r} may not log in from "
        f"{address} {_how_long(username, address)}; other addresses are not affected.",
    )
