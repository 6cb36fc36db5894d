"""What changes a rollout: create it, run a check, attest an item, sign or re-open a phase.

The rules of the four-eyes review live here, so the page and any future door apply the same:
an admin signs (the view checks the permission); not someone who ran that phase's operations;
phases in order; no failing, unrun or open item; a re-opening needs a reason.
"""

import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from metamorph.identity import same_file
from metamorph_admin.formatting import shorten
from metamorph_admin.models import Job
from rollouts import checks, evidence, scrub
from rollouts.definitions import CHECKLIST, ITEM, ITEMS, PHASE, items_of
from rollouts.models import Event, Item, Rollout, SignOff

# Jobs that change a database or its safety net: who ran them may not sign the phase.
OPERATION_KINDS = (
    "backup",
    "migration",
    "rollback",
    "restore",
    "remap",
    "remap-undo",
    "rehearsal",
    "verification",
    "interrupted-write-rollback",
)
JOB_LINK = re.compile(r"/jobs/(\d+)/")
MIN_REASON = 10


class RolloutRefused(Exception):
    """A rule of the review says no; the message names the rule and what to do."""


class EditConflict(Exception):
    """Someone saved the item since this form was loaded; `item` is what they saved."""

    def __init__(self, item):
        super().__init__(
            f"{item.attested_by or item.last_run_by or 'Someone'} changed this item "
            "since you opened the page."
        )
        self.item = item


def create_rollout(
    *,
    name,
    staging,
    production,
    actor,
    staging_url="",
    production_url="",
    backup_max_age_hours=24,
    planned_downtime_minutes=5,
):
    """A rollout over two configured databases, with every item of the guide not run yet."""
    if same_file(staging.path, production.path):
        raise RolloutRefused("Staging and production must be two different databases.")
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                name=name,
                staging_name=staging.name,
                staging_path=staging.path,
                staging_url=staging_url,
                production_name=production.name,
                production_path=production.path,
                production_url=production_url,
                backup_max_age_hours=backup_max_age_hours,
                planned_downtime_minutes=planned_downtime_minutes,
                created_by=actor,
            )
            Item.objects.bulk_create(
                Item(rollout=rollout, key=d.key, phase=d.phase, status=_initial_status(rollout, d))
                for d in ITEMS
            )
            Event.objects.create(
                rollout=rollout,
                actor=actor,
                kind="created",
                text=f"staging {staging.name}, production {production.name}",
            )
    except IntegrityError:
        raise RolloutRefused(f"A rollout called {name!r} exists already.") from None
    return rollout


SETTINGS = ("staging_url", "production_url", "backup_max_age_hours", "planned_downtime_minutes")


class SettingsConflict(Exception):
    """Someone saved the rollout's settings since this form was loaded; `rollout` is theirs."""

    def __init__(self, rollout):
        super().__init__("Someone changed this rollout's settings since you opened the page.")
        self.rollout = rollout


def edit_settings(rollout, *, actor, version, **values):
    """Change URLs and thresholds unless someone saved since `version` (SettingsConflict).

    A live item whose URL goes away becomes attested (open); one whose URL appears is checked.
    """
    values = {k: v for k, v in values.items() if k in SETTINGS}
    changed = {k: v for k, v in values.items() if getattr(rollout, k) != v}
    with transaction.atomic():
        updated = Rollout.objects.filter(pk=rollout.pk, version=version).update(
            **values, version=F("version") + 1
        )
        rollout = Rollout.objects.get(pk=rollout.pk)
        if not updated:
            raise SettingsConflict(rollout)
        for definition in (d for d in ITEMS if d.mode == "live"):
            item = rollout.items.get(key=definition.key)
            attested = mode_of(rollout, definition) == "attest"
            if attested and item.status in (
                Item.Status.NOT_RUN,
                Item.Status.PASS,
                Item.Status.INFO,
                Item.Status.FAIL,
            ):
                rollout.items.filter(pk=item.pk).update(
                    status=Item.Status.OPEN, version=F("version") + 1
                )
            elif not attested and item.status in (Item.Status.OPEN, Item.Status.ATTESTED):
                rollout.items.filter(pk=item.pk).update(
                    status=Item.Status.NOT_RUN, version=F("version") + 1
                )
        if changed:
            Event.objects.create(
                rollout=rollout,
                actor=actor,
                kind="edited",
                text=", ".join(f"{k} = {v!r}" for k, v in changed.items()),
            )
    return rollout


def mode_of(rollout, definition):
    """'check', 'attest', or 'live' — a live item without a server URL is attested instead."""
    if definition.mode == "live" and not getattr(rollout, f"{definition.db}_url"):
        return "attest"
    return definition.mode


def _initial_status(rollout, definition):
    return Item.Status.OPEN if mode_of(rollout, definition) == "attest" else Item.Status.NOT_RUN


def checked_target(rollout, key, tokens=()):
    """The database an item's check gathers from, or RolloutRefused saying why it cannot run."""
    definition = ITEM[key]
    if mode_of(rollout, definition) == "attest":
        raise RolloutRefused(f"{definition.title} is attested by a person, not checked.")
    return database_target(rollout, definition.db, tokens)


def database_target(rollout, role, tokens=()):
    """The rollout's staging or production database, or RolloutRefused when it was removed."""
    target = evidence.target_for(rollout, role, tokens)
    if target is None:
        raise RolloutRefused(
            f"The {role} database {getattr(rollout, role + '_name')!r} is no "
            "longer in METAMORPH_DATABASES (or names another file now): this rollout stays "
            "readable, but its checks cannot run. Add it back to run them."
        )
    return target


def run_check(rollout, key, *, actor, tokens=()):
    """Gather one item's evidence now (on the database's agent: it reads the file and asks
    the server beside it); the item keeps its numbers and when it last passed."""
    definition = ITEM[key]
    target = checked_target(rollout, key, tokens)
    outcome = scrub.scrub_outcome(checks.gather(definition.check, target), tokens)
    return _store_outcome(rollout, definition, outcome, actor)


def run_phase_checks(rollout, phase, *, actor):
    """Re-run every item of `phase` the tool checks from the database (live items need their
    tokens or their own button); the items, in order."""
    return [
        run_check(rollout, d.key, actor=actor)
        for d in items_of(phase)
        if mode_of(rollout, d) == "check"
    ]


def _store_outcome(rollout, definition, outcome, actor):
    now = timezone.now()
    passed = outcome.status in ("pass", "info")
    fields = {
        "status": outcome.status,
        "summary": outcome.summary,
        "numbers": json.loads(json.dumps(outcome.numbers, default=str)),
        "evidence": outcome.evidence,
        "last_run_at": now,
        "last_run_by": actor,
        "version": F("version") + 1,
    }
    if passed:
        fields["last_passed_at"] = now
    Item.objects.filter(rollout=rollout, key=definition.key).update(**fields)
    Event.objects.create(
        rollout=rollout,
        actor=actor,
        kind="check",
        phase=definition.phase,
        item_key=definition.key,
        outcome=outcome.status,
        text=outcome.summary[:500],
    )
    return Item.objects.get(rollout=rollout, key=definition.key)


def attest(rollout, key, *, actor, note, version):
    """Attest an item with a note, unless someone saved it since `version` (EditConflict)."""
    definition = ITEM[key]
    if mode_of(rollout, definition) != "attest":
        raise RolloutRefused(f"{definition.title} is checked by the tool: run the check.")
    note = (note or "").strip()
    if not note:
        raise RolloutRefused(
            "An attestation needs a note saying what was done and where the proof is."
        )
    updated = Item.objects.filter(rollout=rollout, key=key, version=version).update(
        status=Item.Status.ATTESTED,
        note=note,
        attested_by=actor,
        attested_at=timezone.now(),
        version=F("version") + 1,
    )
    item = Item.objects.get(rollout=rollout, key=key)
    if not updated:
        raise EditConflict(item)
    Event.objects.create(
        rollout=rollout,
        actor=actor,
        kind="attest",
        phase=definition.phase,
        item_key=key,
        outcome="attested",
        text=note[:500],
    )
    return item


def standing_signoff(rollout, phase):
    return rollout.signoffs.filter(phase=phase, reopened_at__isnull=True).first()


def _window_start(rollout, phase):
    previous = standing_signoff(rollout, phase - 1) if phase > CHECKLIST else None
    return previous.signed_at if previous else rollout.created_at


def phase_operations(rollout, phase):
    """The operation jobs of a phase: those on its databases' files (under any name) since it
    opened, and every job its evidence cites."""
    paths = {getattr(rollout, f"{d.db}_path") for d in items_of(phase)}
    in_window = Job.objects.filter(
        kind__in=OPERATION_KINDS, created_at__gte=_window_start(rollout, phase)
    ).select_related("started_by")
    cited = {
        int(pk)
        for item in rollout.items.filter(phase=phase)
        for link in item.evidence
        for pk in JOB_LINK.findall(link.get("url", ""))
    }
    ours: dict[str, bool] = {}
    found = [
        job
        for job in in_window
        if ours.setdefault(job.db_path, any(same_file(job.db_path, p) for p in paths))
    ]
    known = {job.pk for job in found}
    found += [
        j
        for j in Job.objects.filter(pk__in=cited).select_related("started_by")
        if j.pk not in known
    ]
    return found


def operators_of(rollout, phase):
    """The dashboard users who ran the phase's operations (phase_operations)."""
    return {j.started_by.get_username() for j in phase_operations(rollout, phase) if j.started_by}


def unattributed_operations(rollout, phase):
    """Why some of the phase's operations cannot be tied to a dashboard user (one line each)."""
    return [
        f"job #{j.pk} ({j.kind} by {j.actor!r} from "
        f"{'the command line' if j.origin == 'cli' else 'the web'}) is tied to no dashboard "
        "user, so four eyes cannot be checked"
        for j in phase_operations(rollout, phase)
        if j.started_by is None
    ]


def blockers(rollout, phase):
    """Why the phase cannot be signed now: unrun or failing checks, open attestations."""
    out = []
    for item in rollout.items.filter(phase=phase):
        title = ITEM[item.key].title
        if item.status == Item.Status.FAIL:
            out.append(f"{title}: failing ({shorten(item.summary)})")
        elif item.status == Item.Status.NOT_RUN:
            out.append(f"{title}: not checked yet")
        elif item.status == Item.Status.OPEN:
            out.append(f"{title}: not attested yet")
    return out + unattributed_operations(rollout, phase)


def sign(rollout, phase, *, actor):
    """Sign `phase` after re-running its database checks; refused (RolloutRefused) when a rule
    says no. The signature keeps a frozen copy of every item as it stood."""
    check_may_sign(rollout, phase, actor)
    run_phase_checks(rollout, phase, actor=actor)  # refused if a database is gone
    problems = blockers(rollout, phase)
    if problems:
        raise RolloutRefused(
            f"{PHASE[phase].label} cannot be signed while items fail or are "
            "open: " + "; ".join(problems[:6]) + "."
        )
    frozen = [_frozen(item) for item in rollout.items.filter(phase=phase)]
    digest = hashlib.sha256(json.dumps(frozen, sort_keys=True).encode()).hexdigest()
    try:
        with transaction.atomic():
            signoff = SignOff.objects.create(
                rollout=rollout,
                phase=phase,
                signed_by=actor,
                evidence=frozen,
                evidence_sha256=digest,
            )
            Event.objects.create(
                rollout=rollout,
                actor=actor,
                kind="signed",
                phase=phase,
                outcome="signed",
                text=f"evidence sha256 {digest}",
            )
    except IntegrityError:  # another admin signed it a moment ago
        raise RolloutRefused(
            f"{PHASE[phase].label} was just signed by {standing_signoff(rollout, phase).signed_by}."
        ) from None
    return signoff


def check_may_sign(rollout, phase, actor):
    """The signing rules that need no check run: RolloutRefused naming the one broken."""
    if phase not in PHASE:
        raise RolloutRefused(f"There is no phase {phase}.")
    label = PHASE[phase].label
    if standing_signoff(rollout, phase):
        raise RolloutRefused(f"{label} is signed already; re-open it first to sign it again.")
    if phase > CHECKLIST and not standing_signoff(rollout, phase - 1):
        raise RolloutRefused(
            f"{label} cannot be signed before {PHASE[phase - 1].label} is "
            "signed: phases are reviewed in order."
        )
    unattributed = unattributed_operations(rollout, phase)
    if unattributed:
        raise RolloutRefused(
            f"{label} cannot be signed: " + "; ".join(unattributed[:3]) + ". Commands "
            "must name their operator (--operator NAME); a window's record cannot be mended "
            "afterwards, so start it again: re-open and re-sign the previous phase (for the "
            "checklist, a new rollout)."
        )
    if actor in operators_of(rollout, phase):
        raise RolloutRefused(
            f"{actor} ran operations of {label}: four eyes means another admin signs it."
        )


def _frozen(item):
    return {
        "key": item.key,
        "title": ITEM[item.key].title,
        "status": item.status,
        "summary": item.summary,
        "numbers": item.numbers,
        "evidence": item.evidence,
        "last_run_at": item.last_run_at.isoformat() if item.last_run_at else None,
        "last_passed_at": item.last_passed_at.isoformat() if item.last_passed_at else None,
        "note": item.note,
        "attested_by": item.attested_by,
        "attested_at": item.attested_at.isoformat() if item.attested_at else None,
    }


def reopen(rollout, phase, *, actor, reason):
    """Withdraw a phase's signature (kept, marked re-opened) with a reason."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise RolloutRefused(
            f"Re-opening a signed phase needs a reason (at least {MIN_REASON} "
            "characters) that the review can read."
        )
    with transaction.atomic():
        signoff = standing_signoff(rollout, phase)
        if signoff is None:
            raise RolloutRefused(f"{PHASE.get(phase, phase)} is not signed: nothing to re-open.")
        if standing_signoff(rollout, phase + 1):
            raise RolloutRefused(
                f"Re-open {PHASE[phase + 1].label} first: it was signed on top of this one."
            )
        SignOff.objects.filter(pk=signoff.pk).update(
            reopened_by=actor, reopened_at=timezone.now(), reopen_reason=reason
        )
        Event.objects.create(
            rollout=rollout,
            actor=actor,
            kind="reopened",
            phase=phase,
            outcome="reopened",
            text=reason,
        )
