"""Every POST checks its permission: a refusal is a 403 page naming the role needed."""

import functools

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

from metamorph_admin import audit
from metamorph_admin.models import AuditRecord
from metamorph_admin.roles import ROLES, role_needed, role_of


def describe(perm):
    """'vaults.request_snapshot' -> 'request a recount or an integrity check'."""
    app_label, _, codename = perm.partition(".")
    name = (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .values_list("name", flat=True)
        .first()
    ) or codename.replace("_", " ")
    return name[4:] if name.startswith("Can ") else name


def refusal_message(user, perm):
    role = role_needed(perm)
    higher = " (or higher)" if role and role != list(ROLES)[-1] else ""
    needed = f"the {role} role{higher}" if role else "a superuser account"
    current = role_of(user) if user.is_authenticated else ""
    has = f"the {current} role" if current else "no role"
    fix = (
        f" Ask an admin to run `python manage.py createoperator {user.get_username()} "
        f"--role {role}`."
        if role
        else ""
    )
    return f"You need {needed} to {describe(perm)}. Your account has {has}.{fix}"


def require_perm(request, perm, *, action=""):
    """Return if the user has `perm`; otherwise audit a refused POST and raise PermissionDenied.

    Django renders the refusal with templates/403.html.
    """
    if request.user.has_perm(perm):
        return
    message = refusal_message(request.user, perm)
    if request.method == "POST":
        audit.record_request(
            request,
            action or perm.partition(".")[2],
            outcome=AuditRecord.Outcome.REFUSED,
            message=message,
            parameters={"path": request.path},
        )
    raise PermissionDenied(message)


def permission_required(perm, action=""):
    """View decorator form of require_perm."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            require_perm(request, perm, action=action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
