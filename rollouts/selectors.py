"""What the rollout page and the report read: phases with their items, where the rollout
stands, and one timeline of its own events, the jobs on its databases and their audit."""

from dataclasses import dataclass, field

from django.db.models import Q

from metamorph_admin import databases
from metamorph_admin.models import AuditRecord, Job
from rollouts import services
from rollouts.definitions import ITEM, PHASES
from rollouts.models import Item

PASSED = (Item.Status.PASS, Item.Status.INFO, Item.Status.ATTESTED)
EVENT_WORDS = {
    "created": "rollout created",
    "check": "check run",
    "attest": "attested",
    "signed": "signed",
    "reopened": "re-opened",
    "edited": "settings changed",
}


@dataclass
class ItemView:
    item: Item
    definition: object
    mode: str

    @property
    def passed(self):
        return self.item.status in PASSED


@dataclass
class PhaseView:
    phase: object
    items: list
    signoff: object
    history: list
    blockers: list
    operators: set
    previous_signed: bool

    @property
    def passed(self):
        return sum(1 for i in self.items if i.passed)

    @property
    def state(self):
        if self.signoff:
            return "signed"
        return "ready" if self.previous_signed and not self.blockers else "open"


@dataclass
class Glance:
    current: object  # the first phase not signed (None: all signed)
    signed: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    passed: int = 0
    total: int = 0


def phase_views(rollout):
    items = {i.key: i for i in rollout.items.all()}
    signoffs = list(rollout.signoffs.all())
    views, previous = [], True
    for phase in PHASES:
        mine = [
            ItemView(items[d.key], d, services.mode_of(rollout, d))
            for d in ITEM.values()
            if d.phase == phase.number and d.key in items
        ]
        standing = next((s for s in signoffs if s.phase == phase.number and s.standing), None)
        views.append(
            PhaseView(
                phase,
                mine,
                standing,
                [s for s in signoffs if s.phase == phase.number],
                services.blockers(rollout, phase.number),
                services.operators_of(rollout, phase.number),
                previous,
            )
        )
        previous = standing is not None
    return views


def glance(views):
    current = next((v for v in views if not v.signoff), None)
    return Glance(
        current=current,
        signed=[v for v in views if v.signoff],
        missing=current.blockers if current else [],
        passed=sum(v.passed for v in views),
        total=sum(len(v.items) for v in views),
    )


def current_phase_label(rollout):
    """The first phase without a standing signature (cheap: for the list of rollouts)."""
    signed = set(rollout.signoffs.filter(reopened_at__isnull=True).values_list("phase", flat=True))
    return next((p.label for p in PHASES if p.number not in signed), "all phases signed")


def database_states(rollout):
    """Each of the rollout's databases: still configured at the same path, or removed."""
    out = []
    for role in ("staging", "production"):
        name, path = getattr(rollout, f"{role}_name"), getattr(rollout, f"{role}_path")
        db = databases.get(name)
        out.append(
            {
                "role": role,
                "name": name,
                "path": path,
                "url": getattr(rollout, f"{role}_url"),
                "configured": db is not None and db.path == path,
            }
        )
    return out


def _paths(rollout):
    return [rollout.staging_path, rollout.production_path]


def operation_jobs(rollout):
    return Job.objects.filter(
        db_path__in=_paths(rollout), created_at__gte=rollout.created_at
    ).order_by("created_at", "id")


def audit_trail(rollout):
    """Audit records of the operations on its databases and of the rollout's own actions."""
    return AuditRecord.objects.filter(
        Q(target__in=_paths(rollout), at__gte=rollout.created_at)
        | Q(action__startswith="rollout-", target=rollout.name)
    ).order_by("at", "id")


def timeline(rollout):
    """(at, actor, what, outcome, link) for events and jobs, oldest first."""
    rows = [(e.at, e.actor, _event_text(e), e.outcome, "") for e in rollout.events.all()]
    names = {
        rollout.staging_path: rollout.staging_name,
        rollout.production_path: rollout.production_name,
    }
    rows += [
        (
            j.created_at,
            j.actor,
            f"job #{j.pk} {j.kind} on {names.get(j.db_path)}",
            j.state,
            f"/jobs/{j.pk}/",
        )
        for j in operation_jobs(rollout)
    ]
    return sorted(rows, key=lambda r: r[0])


def _event_text(event):
    phase = next((p.label for p in PHASES if p.number == event.phase), "")
    item = ITEM[event.item_key].title if event.item_key in ITEM else ""
    what = EVENT_WORDS.get(event.kind, event.kind)
    parts = [what, phase, item]
    return " · ".join(p for p in parts if p) + (f": {event.text}" if event.text else "")
