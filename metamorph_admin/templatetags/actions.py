"""Whether the signed-in user may run an action, and which role it needs when not.

    {% action "backup" as can %}   a job kind's name, or an "app_label.codename" permission
    <button {{ can.disabled }}>Back up now</button> {% include "partials/needs_role.html" %}

Every action a role cannot run is shown disabled with the role it needs, never as a trap
that ends in a 403.
"""

from dataclasses import dataclass

from django import template
from django.utils.html import format_html

from metamorph_admin import kinds
from metamorph_admin.roles import role_needed

register = template.Library()


@dataclass(frozen=True)
class Action:
    allowed: bool
    role: str

    @property
    def disabled(self):
        return (
            ""
            if self.allowed
            else format_html('disabled aria-disabled="true" title="{}"', self.reason)
        )

    @property
    def reason(self):
        if self.allowed:
            return ""
        return f"Needs the {self.role} role" if self.role else "Needs a superuser account"


def permission_of(name):
    return kinds.KINDS[name].permission if name in kinds.KINDS else name


@register.simple_tag(takes_context=True)
def action(context, name):
    perm = permission_of(name)
    user = context.get("user") or getattr(context.get("request"), "user", None)
    allowed = bool(user is not None and user.is_authenticated and user.has_perm(perm))
    return Action(allowed, role_needed(perm) or "")
