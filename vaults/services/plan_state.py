"""One state per stored remap plan, and the actions that state allows.

The journal says what happened to the rows (completed, interrupted, undone…); the Job rows
say what is queued or running right now. Together they give the page one badge and only the
buttons that make sense: a completed plan can be undone, not executed again; a never-run plan
can be executed, not undone.
"""

from dataclasses import dataclass, field

from metamorph_admin import kinds
from metamorph_admin.models import Job


@dataclass(frozen=True)
class PlanState:
    state: str  # previewed | queued | running | interrupted | completed | undoing |
    # undo-interrupted | undone
    label: str
    badge: str  # ok | info | warning | error (the CSS badge class)
    message: str
    can_execute: bool
    can_undo: bool
    journal: dict = field(default_factory=dict)  # remap.plan_status(), {} when never run
    active_job: Job | None = None
    last_failed_job: Job | None = None

    def moved(self, table):
        """Rows of `table` this plan has moved so far (0 before it ran)."""
        return (self.journal.get("tables") or {}).get(table, {}).get("moved", 0)


LABELS = {
    "previewed": ("previewed, not run", "info"),
    "queued": ("queued", "info"),
    "running": ("running", "info"),
    "interrupted": ("interrupted", "warning"),
    "completed": ("completed", "ok"),
    "undoing": ("being undone", "info"),
    "undo-interrupted": ("undo interrupted", "warning"),
    "undone": ("undone", "pending"),
}


def _jobs(plan_id):
    found = (
        Job.objects.of_kinds(kinds.names_in_group("remap"))
        .filter(parameters__plan_id=plan_id)
        .order_by("-id")
    )
    active = found.in_progress().first()
    last = found.first()
    return active, last if last is not None and last.state == Job.State.FAILED else None


def plan_state(record, journal):
    """The one state of a stored plan (`journal`: its remap.plan_status() as the database's
    agent read it, {} when it never ran, plus its jobs) and what may be done next."""
    active, failed = _jobs(record.plan_id)
    state = journal.get("state") or "previewed"
    if active is not None and state not in ("running", "undoing"):
        state = (
            "queued"
            if active.state == Job.State.QUEUED
            else ("undoing" if active.kind == "remap-undo" else "running")
        )
    label, badge = LABELS.get(state, (state, "info"))
    can_execute = active is None and state in ("previewed", "interrupted")
    can_undo = active is None and state in ("interrupted", "completed", "undo-interrupted")
    return PlanState(
        state,
        label,
        badge,
        _message(state, journal, active, failed, record),
        can_execute,
        can_undo,
        journal,
        active,
        failed,
    )


def _message(state, journal, active, failed, record):
    if state == "previewed":
        text = (
            f"Nothing has moved yet: executing it moves {record.moves_total:,} rows. "
            "Nothing to undo."
        )
        if failed is not None:
            text += f" The last attempt (job #{failed.pk}) failed: {failed.error}"
        return text
    if active is not None and state in ("queued", "running", "undoing"):
        return (
            f"Job #{active.pk} is {active.get_state_display().lower()}; this page updates "
            "when it finishes."
        )
    message = journal.get("message", "")
    if state == "completed":
        return message + " To give the rows back to their old vault, undo it."
    if state == "undone":
        return message + (
            " It cannot run again: preview a new plan to move these rows "
            "(the data may have changed since)."
        )
    return message
