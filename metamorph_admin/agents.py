"""Agents: the process beside each Metamorph file that runs every read and write of it.

`manage.py agent --database NAME` claims the database's Agent row, heartbeats with the file's
live facts every HEARTBEAT_SECONDS and takes tasks from that database's queue only, so a job
never runs where its file is not. The site enqueues to `queue_for(name)` and shows each agent's
state from its row; an action for a database whose agent is offline is refused with the command
that starts it. With an in-process task backend (the test suite) every database is served by
the process itself and no agent is needed.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from metamorph.connection import check_file, schema_cookie
from metamorph.errors import MetamorphError
from metamorph.holders import processes_holding
from metamorph.inspect import file_facts
from metamorph_admin import databases, liveness, migration_state
from metamorph_admin.models import Agent
from metamorph_admin.version import VERSION

HEARTBEAT_SECONDS = 5.0
# An agent silent this long is offline: three missed beats, whatever the reason.
OFFLINE_AFTER = timedelta(seconds=20)
QUEUE_PREFIX = "db-"
IN_PROCESS_BACKENDS = ("django.tasks.backends.immediate.ImmediateBackend",)


class AgentOffline(MetamorphError):
    """The database's agent is not running: nothing can read or change its file."""


class AgentAlreadyRunning(MetamorphError):
    """Another live agent serves this database."""


@dataclass(frozen=True)
class AgentState:
    """What the header and the pages say about a database's agent."""

    database: str
    status: str  # online | offline | never | in-process
    hostname: str = ""
    pid: int | None = None
    version: str = ""
    heartbeat_at: datetime | None = None
    facts: dict | None = None
    problem: str = ""

    @property
    def online(self):
        return self.status in ("online", "in-process")

    @property
    def command(self):
        return start_command(self.database)


def queue_for(name: str) -> str:
    return f"{QUEUE_PREFIX}{name}"


def start_command(name: str) -> str:
    return f"python manage.py agent --database {name}"


def required() -> bool:
    """Whether tasks wait for an agent (a database task backend) or run in this process."""
    forced = getattr(settings, "METAMORPH_AGENTS_REQUIRED", None)
    if forced is not None:
        return bool(forced)
    return settings.TASKS["default"]["BACKEND"] not in IN_PROCESS_BACKENDS


def _offline(agent: Agent, now: datetime) -> bool:
    if agent.stopped_at is not None:
        return True
    return now - agent.heartbeat_at > OFFLINE_AFTER


def state_of(db: databases.Database) -> AgentState:
    if not required():
        return AgentState(db.name, "in-process", liveness.hostname(), os.getpid(), VERSION)
    agent = Agent.objects.filter(database=db.name).first()
    if agent is None:
        return AgentState(db.name, "never")
    status = "offline" if _offline(agent, timezone.now()) else "online"
    return AgentState(
        db.name,
        status,
        agent.hostname,
        agent.pid,
        agent.version,
        agent.stopped_at or agent.heartbeat_at,
        agent.facts,
        agent.problem,
    )


def ensure_online(db: databases.Database) -> AgentState:
    """The database's agent state, or AgentOffline saying since when and how to start it."""
    state = state_of(db)
    if state.online:
        return state
    if state.status == "never":
        seen = "no agent has ever reported for it"
    else:
        seen = (
            f"its agent (pid {state.pid} on {state.hostname}) is offline since "
            f"{state.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    raise AgentOffline(
        f"Refused: nothing can run on database {db.name} now: {seen}. Start it on the host "
        f"that holds {db.path}: `{state.command}`."
    )


def offline_reason(db: databases.Database) -> str:
    """Why nothing can run on the database now (ensure_online's words), or "" while its
    agent is online."""
    try:
        ensure_online(db)
    except AgentOffline as exc:
        return str(exc)
    return ""


def register(db: databases.Database) -> Agent:
    """Claim the database's row for this process; AgentAlreadyRunning names the live one."""
    me = liveness.this_process()
    now = timezone.now()
    fields = {
        "db_path": db.path,
        "queue_name": queue_for(db.name),
        "version": VERSION,
        "started_at": now,
        "heartbeat_at": now,
        "stopped_at": None,
        "facts": None,
        "problem": "",
        **me,
    }
    for _ in range(3):
        current = Agent.objects.filter(database=db.name).first()
        if current is None:
            try:
                with transaction.atomic():
                    return Agent.objects.create(database=db.name, **fields)
            except IntegrityError:
                continue  # another agent inserted between our read and our insert
        if current.stopped_at is None and not liveness.holder_gone(
            current.pid,
            current.hostname,
            current.process_started,
            current.heartbeat_at,
            now,
            OFFLINE_AFTER,
        ):
            raise AgentAlreadyRunning(
                f"An agent for database {db.name} already runs: pid {current.pid} on "
                f"{current.hostname}, since {current.started_at:%Y-%m-%d %H:%M:%S} UTC. "
                "Stop that one first; one agent serves one database."
            )
        # Take over the row of a stopped or dead agent, unless another did a moment ago.
        if _own_row(current).update(**fields):
            return Agent.objects.get(pk=current.pk)
    raise AgentAlreadyRunning(f"Another agent for database {db.name} is starting at this moment.")


def facts_of(path: str, in_process: bool = False) -> tuple[dict | None, str]:
    """The file's live facts (size, last write, journal/WAL, lock holders, schema cookie, the
    processes that hold it, the Migrations page's state), or why not: what the pages show
    without opening the file. `in_process` (a page asks, no agent): the migration state is
    read again whenever the file changed, not only with its schema or a minute apart."""
    try:
        check_file(path)  # a file gone, empty or not SQLite: the operator's words
        facts = dict(file_facts(path))
        facts["schema_cookie"] = schema_cookie(path)
    except MetamorphError as exc:  # which one, for /metrics' problem label
        return {"problem_kind": exc.__class__.__name__}, str(exc)
    except OSError as exc:
        return {
            "problem_kind": "OSError"
        }, f"{path} cannot be read on this host: {exc.strerror or exc}."
    facts["journal_size_bytes"] = _size_or_none(f"{path}-journal")
    facts["holders"] = [h.describe() for h in processes_holding(path).processes]
    version = facts["schema_cookie"]
    if in_process:  # rows a rollback would lose change without the schema
        version = (version, facts["mtime"], facts["wal_size_bytes"], facts["journal_size_bytes"])
    facts["migrations"] = migration_state.for_heartbeat(path, version)
    return facts, ""


def _size_or_none(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class LiveFacts:
    """A database's live facts as the pages show them, with when and by whom they were read."""

    facts: dict | None
    problem: str
    read_at: datetime | None
    source: str  # "this process" | "agent pid N on HOST"
    stale: bool = False

    @property
    def age_seconds(self):
        return round((timezone.now() - self.read_at).total_seconds()) if self.read_at else None


def live_facts(db: databases.Database) -> LiveFacts:
    """The facts of the newest heartbeat of the database's agent (this process reads them
    itself when tasks run in-process): the site never opens the file for them."""
    if not required():
        facts, problem = facts_of(db.path, in_process=True)
        return LiveFacts(facts, problem, timezone.now(), "this process")
    state = state_of(db)
    if state.status == "never":
        return LiveFacts(None, "", None, "no agent", stale=True)
    return LiveFacts(
        state.facts,
        state.problem,
        state.heartbeat_at,
        f"agent pid {state.pid} on {state.hostname}",
        stale=not state.online,
    )


def beat(agent: Agent) -> bool:
    """One heartbeat; False when the row is no longer this agent's (another took over)."""
    facts, problem = facts_of(agent.db_path)
    return bool(_own_row(agent).update(heartbeat_at=timezone.now(), facts=facts, problem=problem))


def beat_now(db: databases.Database) -> None:
    """A heartbeat of this process's agent of `db` now (a job of it just changed the file),
    so the pages need not wait for the next one; nothing when this process is not its agent."""
    me = liveness.this_process()
    agent = Agent.objects.filter(database=db.name, pid=me["pid"], hostname=me["hostname"]).first()
    if agent is not None:
        beat(agent)


def stop(agent: Agent) -> None:
    _own_row(agent).update(stopped_at=timezone.now())


def _own_row(agent: Agent):
    """The agent's row while it is still this process's (not taken over by another agent)."""
    return Agent.objects.filter(pk=agent.pk, pid=agent.pid, hostname=agent.hostname)
