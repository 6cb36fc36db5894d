"""Who runs a command: a dashboard user named with --operator NAME or METAMORPH_OPERATOR.

Every operation is attributed to a person the dashboard knows, never to the OS account
(`root` on many servers), so the four-eyes rule of a rollout compares like with like.
"""

import os

from django.contrib.auth import get_user_model

from metamorph.errors import MetamorphError
from metamorph_admin.permissions import refusal_message

ENV = "METAMORPH_OPERATOR"


class OperatorRefused(MetamorphError):
    """The command cannot be tied to a dashboard user allowed to run it."""


def how_to_name_yourself(what):
    return (
        f"{what} must be tied to a person: name yourself with --operator NAME (or "
        f"{ENV}=NAME), a dashboard user with the role it needs (createoperator NAME --role ...)."
    )


def operator_for(name, perm, what):
    """The active dashboard user `name` (else METAMORPH_OPERATOR) holding `perm`;
    OperatorRefused with one line saying how to fix it."""
    name = (name or os.environ.get(ENV, "")).strip()
    if not name:
        raise OperatorRefused(how_to_name_yourself(what))
    user = get_user_model().objects.filter(username=name, is_active=True).first()
    if user is None:
        raise OperatorRefused(
            f"There is no active dashboard user called {name!r}: --operator (or {ENV}) must "
            "name one (python manage.py createoperator NAME --role ... creates it)."
        )
    if perm and not user.has_perm(perm):
        raise OperatorRefused(refusal_message(user, perm))
    return user
