"""The Remap page's reads of the file (owner columns, the plans' journal states, a preview, the
source vault's ids), run by the database's agent and stored as AgentRead rows: the page
renders them and never opens the file."""

from datetime import UTC, datetime
from typing import TypedDict

from django.db.models import Max
from django.tasks import task

from metamorph import remap
from metamorph.errors import MetamorphError
from metamorph.remap import source_ids
from metamorph.report import json_safe
from metamorph_admin import agent_reads, agents, audit, databases, kinds
from metamorph_admin.models import AgentRead, AuditRecord, Job
from vaults.models import RemapPlanRecord
from vaults.services import remap as remap_service

OWNER_SOURCES = "remap-owner-sources"
PLANS = "remap-plans"
PREVIEW = "remap-preview"
SOURCE_IDS = "remap-source-ids"
RECENT = 20


class PlansRead(TypedDict):
    """The journal's word on the database's plans: the incomplete ones, and each recent
    plan's status (remap.plan_status, {} when it never ran)."""

    incomplete: list[dict]
    status: dict[str, dict]


def _journal(db_path, plan_id):
    try:
        status = remap.plan_status(db_path, plan_id)
    except MetamorphError:
        return {}
    return {} if status.get("state") == "unknown" else status


def read_plans(db_path, plan_ids) -> PlansRead:
    return {
        "incomplete": json_safe(remap.incomplete_plans(db_path)),
        "status": {p: json_safe(_journal(db_path, p)) for p in plan_ids},
    }


def _plans(read):
    db = databases.get(read.database)
    ids = read.parameters.get("plan_ids")
    if ids is None:
        ids = list(
            RemapPlanRecord.objects.filter(db_path=db.path).values_list("plan_id", flat=True)[
                :RECENT
            ]
        )
    return read_plans(db.path, ids)


def _owner_sources(read):
    db = databases.get(read.database)
    return json_safe(remap.discover_owner_sources(db.path, read.parameters["source"]))


def _source_ids(read):
    db = databases.get(read.database)
    return [list(row) for row in source_ids.template_rows(db.path, read.parameters["source"])]


def _preview(read):
    """Build and store the plan; the audit record is written here, where the outcome is known."""
    db = databases.get(read.database)
    params = read.parameters
    actor = agent_reads.actor_of(read)
    try:
        record = remap_service.preview(db.path, remap.rule_from_dict(params["rule"]), actor.name)
    except MetamorphError as exc:
        audit.record(
            "remap-preview",
            actor,
            outcome=AuditRecord.Outcome.REFUSED,
            target=db.path,
            parameters=params.get("posted", {}),
            message=str(exc),
        )
        raise
    audit.record(
        "remap-preview",
        actor,
        outcome=AuditRecord.Outcome.SUCCESS,
        target=db.path,
        parameters={"plan_id": record.plan_id, "rule": record.description},
    )
    return {"plan_id": record.plan_id}


READERS = {
    OWNER_SOURCES: _owner_sources,
    PLANS: _plans,
    PREVIEW: _preview,
    SOURCE_IDS: _source_ids,
}


@task
def remap_read_task(read_id):
    """The agent's entry point (django.tasks): one Remap page read."""
    read = AgentRead.objects.get(pk=read_id)
    agent_reads.run(read_id, READERS[read.kind])


def _changed_since(db):
    """When the database last changed as the Remap page sees it: the file's last write (the
    agent's heartbeat), a plan previewed, a remap job finished."""
    moments = []
    mtime = (agents.live_facts(db).facts or {}).get("mtime")
    if mtime is not None:
        moments.append(datetime.fromtimestamp(mtime, UTC))
    moments.append(
        RemapPlanRecord.objects.filter(db_path=db.path).aggregate(m=Max("created_at"))["m"]
    )
    moments.append(
        Job.objects.for_file(db.path)
        .of_kinds(kinds.names_in_group("remap"))
        .aggregate(m=Max("finished_at"))["m"]
    )
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def plans(db, polled=False) -> AgentRead:
    """The read of the recent plans' states, read again once the database changed."""
    return agent_reads.request(
        db, remap_read_task, PLANS, fresh_since=_changed_since(db), polled=polled
    )


def plan(db, plan_id, polled=False) -> AgentRead:
    """The read of one plan's journal state."""
    return agent_reads.request(
        db,
        remap_read_task,
        PLANS,
        key=plan_id,
        parameters={"plan_ids": [plan_id]},
        fresh_since=_changed_since(db),
        polled=polled,
    )


def owner_sources(db, source, cookie) -> AgentRead:
    """The read of the owner columns of `source`, read again when the schema changes."""
    return agent_reads.request(
        db, remap_read_task, OWNER_SOURCES, key=f"{source}@{cookie}", parameters={"source": source}
    )


def source_id_rows(db, source) -> AgentRead:
    """The read of the source vault's ids for a mapping file, read again when the file changed."""
    return agent_reads.request(
        db,
        remap_read_task,
        SOURCE_IDS,
        key=source,
        parameters={"source": source},
        fresh_since=_changed_since(db),
    )


def preview(db, rule, actor, posted) -> AgentRead:
    """A preview of `rule` queued on the agent (it stores the plan and its audit record)."""
    return agent_reads.queue(
        db,
        remap_read_task,
        PREVIEW,
        parameters={"rule": rule.to_dict(), "posted": audit.safe_parameters(posted)},
        actor=actor,
    )
