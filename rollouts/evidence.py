"""What a gatherer works on (a Target: one of a rollout's databases) and what it returns (an
Outcome: pass/info/fail, the numbers the page shows, links to the evidence)."""

from dataclasses import dataclass, field

from django.urls import reverse

from metamorph_admin import databases


@dataclass
class Outcome:
    status: str  # pass | info | fail
    summary: str
    numbers: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)  # [{"label", "url"?, "text"?}]


@dataclass
class Target:
    rollout: object
    role: str  # staging | production
    name: str
    path: str
    url: str
    backup_dir: str
    tokens: tuple = ()

    def page(self, view, **kwargs):
        """A link to a dashboard page about this database (the header switches to it)."""
        return f"{reverse(view, kwargs=kwargs or None)}?database={self.name}"


def target_for(rollout, role, tokens=()):
    """The Target of a rollout's staging/production database, or None when it was removed."""
    name, path = getattr(rollout, f"{role}_name"), getattr(rollout, f"{role}_path")
    db = databases.get(name)
    if db is None or db.path != path:
        return None
    return Target(rollout, role, name, path, getattr(rollout, f"{role}_url"), db.backup_dir, tokens)
