"""A rollout item's check, run by the agent of the item's database: it reads the file and asks
the Metamorph server beside it, then stores the outcome on the item as services.run_check
always has. The page queues it and polls until the item is updated."""

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from metamorph.errors import MetamorphError
from metamorph_admin import agent_reads, agents, audit, databases
from metamorph_admin.models import AgentRead, AuditRecord
from rollouts import sealed_tokens, services
from rollouts.definitions import ITEM, items_of
from rollouts.models import Rollout

CHECK = "rollout-check"
SIGN = "rollout-sign"
# Sealed tokens a check's agent has not opened within this long are erased, never used.
TOKENS_TTL = timedelta(minutes=10)


class CheckRefused(MetamorphError):
    """A rule of the review said no when the agent came to run the check."""


def _erase_tokens(read):
    AgentRead.objects.filter(pk=read.pk).update(parameters=dict(read.parameters, tokens=""))


def forget_stale_tokens():
    """Erase the sealed tokens of checks no agent took within TOKENS_TTL."""
    stale = AgentRead.objects.filter(
        kind=CHECK,
        state=AgentRead.State.QUEUED,
        requested_at__lt=timezone.now() - TOKENS_TTL,
    )
    for read in stale:
        if read.parameters.get("tokens"):
            _erase_tokens(read)


def _tokens_of(read):
    if not read.parameters.get("tokens"):
        return ()
    _erase_tokens(read)  # opened here or never: no copy stays in the dashboard's database
    if timezone.now() - read.requested_at > TOKENS_TTL:
        raise CheckRefused(
            "The pasted tokens waited too long for the agent and were erased unused: "
            "paste them again once the agent runs."
        )
    return sealed_tokens.unseal(read.parameters["tokens"])


def _gather(read):
    params = read.parameters
    tokens = _tokens_of(read)
    rollout = Rollout.objects.get(pk=params["rollout"])
    actor = agent_reads.actor_of(read)
    try:
        item = services.run_check(rollout, params["key"], actor=actor.name, tokens=tokens)
    except services.RolloutRefused as exc:
        raise CheckRefused(str(exc)) from None
    if params.get("audit"):
        audit.record(
            "rollout-check",
            actor,
            outcome=AuditRecord.Outcome.SUCCESS
            if item.status != "fail"
            else AuditRecord.Outcome.FAILURE,
            target=rollout.name,
            message=item.summary[:500],
            parameters={"item": item.key, "status": item.status},
        )
    return {"key": item.key, "status": item.status, "summary": item.summary}


def _sign(read):
    """Re-run the phase's checks here, beside the file, then sign (services.sign)."""
    rollout = Rollout.objects.get(pk=read.parameters["rollout"])
    phase = read.parameters["phase"]
    actor = agent_reads.actor_of(read)
    try:
        signoff = services.sign(rollout, phase, actor=actor.name)
    except services.RolloutRefused as exc:
        audit.record(
            "rollout-sign",
            actor,
            outcome=AuditRecord.Outcome.REFUSED,
            target=rollout.name,
            message=str(exc),
            parameters={"phase": phase},
        )
        raise CheckRefused(str(exc)) from None
    audit.record(
        "rollout-sign",
        actor,
        outcome=AuditRecord.Outcome.SUCCESS,
        target=rollout.name,
        parameters={"phase": phase, "evidence_sha256": signoff.evidence_sha256},
    )
    return {"phase": phase, "evidence_sha256": signoff.evidence_sha256}


@task
def gather_task(read_id):
    """The agent's entry point (django.tasks): one rollout item's check, or a signature."""
    read = AgentRead.objects.get(pk=read_id)
    agent_reads.run(read_id, _sign if read.kind == SIGN else _gather)


def _online(db):
    if reason := agents.offline_reason(db):
        raise services.RolloutRefused(reason)


def request_check(rollout, key, *, actor, tokens=(), audited=True) -> AgentRead:
    """Queue `key`'s check on the agent of its database (RolloutRefused when it cannot run:
    attested item, database removed, agent offline). In-process it has run on return."""
    db = databases.get(services.checked_target(rollout, key, tokens).name)
    _online(db)
    forget_stale_tokens()
    return agent_reads.queue(
        db,
        gather_task,
        CHECK,
        key=f"{rollout.pk}:{key}",
        parameters={
            "rollout": rollout.pk,
            "key": key,
            "tokens": sealed_tokens.seal(tokens) if tokens else "",
            "audit": audited,
        },
        actor=actor,
    )


def request_phase_checks(rollout, phase, *, actor) -> list[AgentRead]:
    """Queue every item of `phase` the tool checks from the database (live items need their
    tokens or their own button), each on its database's agent."""
    return [
        request_check(rollout, d.key, actor=actor, audited=False)
        for d in items_of(phase)
        if services.mode_of(rollout, d) == "check"
    ]


def request_sign(rollout, phase, *, actor) -> AgentRead:
    """Queue the signature of `phase` on the agent of its database, which re-runs the phase's
    checks first (RolloutRefused at once for the rules the page can check without them)."""
    services.check_may_sign(rollout, phase, actor.name)
    db = databases.get(services.database_target(rollout, items_of(phase)[0].db).name)
    _online(db)
    return agent_reads.queue(
        db,
        gather_task,
        SIGN,
        key=f"{rollout.pk}:phase-{phase}",
        parameters={"rollout": rollout.pk, "phase": phase},
        actor=actor,
    )


def under_way(rollout) -> bool:
    """Whether a check or a signature of the rollout is still with an agent."""
    since = timezone.now() - agent_reads.STUCK_AFTER  # an agent killed mid-check: not forever
    return (
        AgentRead.objects.filter(kind__in=[CHECK, SIGN], key__startswith=f"{rollout.pk}:")
        .in_progress()
        .filter(requested_at__gte=since)
        .exists()
    )


def newest_runs(rollout) -> dict[str, AgentRead]:
    """{item key: its newest check read}: who gathered each item's evidence, and which are
    still under way."""
    runs: dict[str, AgentRead] = {}
    reads = AgentRead.objects.filter(kind=CHECK, key__startswith=f"{rollout.pk}:")
    for read in reads.order_by("-requested_at", "-id")[:200]:
        runs.setdefault(read.key.split(":", 1)[1], read)
    return {k: r for k, r in runs.items() if k in ITEM}


def sign_refusals(rollout) -> dict[int, str]:
    """{phase: why its agent refused the newest signature}, while no signature followed it."""
    out = {}
    reads = AgentRead.objects.filter(kind=SIGN, key__startswith=f"{rollout.pk}:")
    for read in reads.order_by("-requested_at", "-id")[:50]:
        phase = read.parameters.get("phase")
        if phase in out:
            continue
        out[phase] = read.error if read.state == AgentRead.State.FAILED else ""
    return {p: e for p, e in out.items() if e}
