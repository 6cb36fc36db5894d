"""Reads a page asks a database's agent for, instead of opening the file in the request.

request(...) finds a stored read that is fresh enough (or one under way) or queues a new one
on the database's queue; the app's task calls run(read_id, reader) on the agent, which stores
the reader's result (a JSON shape) or the operator's message. The page renders the row and,
while it is under way, polls (htmx) until it is there. With an in-process task backend the
read has finished when request() returns.
"""

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from metamorph.connection import translate_error
from metamorph.errors import MetamorphError
from metamorph_admin import agents, audit, databases, liveness
from metamorph_admin.models import AgentRead

logger = logging.getLogger(__name__)

# A read queued longer than this is taken as lost (its agent restarted) and queued again.
STUCK_AFTER = timedelta(minutes=10)
# Finished reads kept per (database, kind, key): the newest is what pages show.
KEEP = 5


def reader_label() -> str:
    """Who reads, as the pages say it: this agent's pid and host."""
    me = liveness.this_process()
    if not agents.required():
        return f"this process (pid {me['pid']} on {me['hostname']})"
    return f"agent pid {me['pid']} on {me['hostname']}"


def queue(db, task, kind, key="", parameters=None, actor=None) -> AgentRead:
    """A new read of `db` queued on its agent (`task` takes the read's id)."""
    actor = actor or audit.Actor("")
    _prune(db, kind, key)
    read = AgentRead.objects.create(
        database=db.name,
        kind=kind,
        key=key[:200],
        parameters=parameters or {},
        requested_by=actor.name[:150],
        user=actor.user,
        remote_addr=actor.remote_addr,
    )
    task.using(queue_name=agents.queue_for(db.name)).enqueue(read.pk)
    read.refresh_from_db()  # an in-process task backend has finished it already
    return read


def _prune(db, kind, key):
    finished = AgentRead.objects.of(db.name, kind, key[:200]).finished()
    old = finished.values_list("pk", flat=True)[KEEP - 1 :]
    AgentRead.objects.filter(pk__in=list(old)).delete()


def request(
    db, task, kind, key="", parameters=None, fresh_since: datetime | None = None, polled=False
):
    """The newest read of (db, kind, key): one under way, else a finished one not older than
    `fresh_since`, else a new one queued. A page's poll (`polled`) takes the newest finished
    one as it is: it waits for a read, it does not start the next. In-process, every call
    reads again."""
    rows = AgentRead.objects.of(db.name, kind, key[:200])
    if not agents.required():
        return queue(db, task, kind, key, parameters)
    under_way = rows.in_progress().filter(requested_at__gte=timezone.now() - STUCK_AFTER).first()
    if under_way is not None:
        return under_way
    newest = rows.finished().first()
    if newest is not None and (polled or fresh_since is None or newest.finished_at >= fresh_since):
        return newest
    return queue(db, task, kind, key, parameters)


def newest_done(db, kind, key="") -> AgentRead | None:
    """The newest read of (db, kind, key) that stored a result."""
    return AgentRead.objects.of(db.name, kind, key[:200]).filter(state=AgentRead.State.DONE).first()


def actor_of(read: AgentRead) -> audit.Actor:
    """Who asked for the read, for the audit record its agent writes."""
    return audit.Actor(read.requested_by or "unknown", user=read.user, remote_addr=read.remote_addr)


def run(read_id: int, reader) -> AgentRead | None:
    """The agent's side: claim the read, store `reader(read)`'s result or why it failed."""
    label = reader_label()
    claimed = AgentRead.objects.filter(pk=read_id, state=AgentRead.State.QUEUED).update(
        state=AgentRead.State.RUNNING, read_by=label[:300]
    )
    if not claimed:
        return None  # another agent took it, or it was dropped
    read = AgentRead.objects.get(pk=read_id)
    state, result, error = AgentRead.State.DONE, None, ""
    try:
        result = reader(read)
    except MetamorphError as exc:
        state, error = AgentRead.State.FAILED, str(exc)
    except sqlite3.DatabaseError as exc:
        state, error = AgentRead.State.FAILED, str(translate_error(exc, _path_of(read)))
    except Exception:  # never leave a read RUNNING: its page would poll forever
        logger.exception("Agent read #%s (%s of %s) failed", read.pk, read.kind, read.database)
        state = AgentRead.State.FAILED
        error = f"Unexpected error: the details are in the agent's log under read #{read.pk}."
    AgentRead.objects.filter(pk=read.pk).update(
        state=state, result=result, error=error, finished_at=timezone.now()
    )
    read.refresh_from_db()
    return read


def _path_of(read):
    db = databases.get(read.database)
    return db.path if db is not None else read.database


def waiting_text(db, read: AgentRead) -> str:
    """What a page says while its read is under way (or why it will not come)."""
    state = agents.state_of(db)
    if not state.online and (reason := agents.offline_reason(db)):
        return reason
    return (
        f"The agent of database {db.name} (pid {state.pid} on {state.hostname}) is reading "
        f"the file (read #{read.pk}, {read.get_state_display()}); this part appears when it is in."
    )


@dataclass(frozen=True)
class Shown:
    """What a page shows of a read: the newest stored result (`read`, with who read it and
    when), a newer read under way (`pending`, with the line the page says), or why the newest
    one failed (`error`)."""

    read: AgentRead | None
    pending: AgentRead | None = None
    error: str = ""
    waiting_text: str = ""

    @property
    def result(self):
        return self.read.result if self.read is not None else None

    @property
    def waiting(self):
        """Nothing to show yet and a read under way: the page polls until it is in."""
        return self.read is None and self.pending is not None

    @classmethod
    def of(cls, read: AgentRead) -> "Shown":
        if read.state == AgentRead.State.DONE:
            return cls(read)
        db = databases.get(read.database)
        shown = newest_done(db, read.kind, read.key) if db is not None else None
        if read.state == AgentRead.State.FAILED:
            return cls(shown, None, read.error)
        return cls(shown, read, "", waiting_text(db, read) if db is not None else "")


def redirect_when_in(request, url):
    """Open `url` once a read is in: an htmx poll is told to (HX-Redirect), a browser redirected."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)
