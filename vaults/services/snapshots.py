"""Background reads of the Metamorph file whose results the pages show from cache."""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from metamorph import report
from metamorph.errors import MetamorphError
from metamorph_admin import agents, databases
from vaults import page_cache, selectors
from vaults.models import Snapshot

logger = logging.getLogger(__name__)

# A queued read older than this is taken as lost (worker restarted) and queued again.
STUCK_AFTER = timedelta(hours=1)


def request_snapshot(db_path):
    """Queue a background read, unless one for the same file is already under way."""
    under_way = (
        Snapshot.objects.filter(
            db_path=db_path,
            state__in=[Snapshot.State.QUEUED, Snapshot.State.RUNNING],
            requested_at__gte=timezone.now() - STUCK_AFTER,
        )
        .defer("payload")
        .first()
    )
    if under_way:
        return under_way
    snap = Snapshot.objects.create(db_path=db_path)
    # The read runs on the agent of the file's database, on the host that holds it.
    queue = agents.queue_for(databases.for_path(db_path).name)
    take_snapshot_task.using(queue_name=queue).enqueue(snap.id)
    snap.refresh_from_db()  # an immediate task backend has finished it already
    return snap


def request_if_outdated(db_path):
    """Queue a background read unless the newest finished one is newer than the file (used
    when a page's own read failed: the background read then records the failure for all)."""
    last = Snapshot.objects.filter(
        db_path=db_path, state__in=[Snapshot.State.DONE, Snapshot.State.FAILED]
    ).first()
    mtime = (agents.live_facts(databases.for_path(db_path)).facts or {}).get("mtime")
    if mtime is None:
        return None  # no file, or no heartbeat yet: nothing to read, the page says so
    if last and last.finished_at and last.finished_at >= datetime.fromtimestamp(mtime, UTC):
        return None
    return request_snapshot(db_path)


def take_snapshot(snapshot_id):
    """Run one queued read and store its result (or the operator-facing error): the page
    report first (schema, health, indexes: the pages render only this stored shape), then
    the counts as soon as they are in, then the rest."""
    snap = Snapshot.objects.get(id=snapshot_id)
    Snapshot.objects.filter(id=snap.id).update(state=Snapshot.State.RUNNING)
    stored: dict = {}

    def progress(phase, done, total, message=""):
        Snapshot.objects.filter(id=snap.id).update(phase=phase, done=done, total=total)

    def keep(**parts):
        stored.update(parts)
        Snapshot.objects.filter(id=snap.id).update(payload=dict(stored))

    try:
        keep(**report.page_shape(snap.db_path))
        payload = dict(report.full_snapshot(snap.db_path, progress, lambda c: keep(counts=c)))
        payload.update(report.page_shape(snap.db_path))  # a migration may have run meanwhile
        state, error = Snapshot.State.DONE, ""
    except MetamorphError as exc:
        payload, state, error = {}, Snapshot.State.FAILED, str(exc)
    except Exception:  # never leave a read RUNNING: the pages would wait for it forever
        logger.exception("Background read #%s of %s failed unexpectedly", snap.id, snap.db_path)
        payload, state, error = {}, Snapshot.State.FAILED, _unexpected(snap)
    try:
        with transaction.atomic():  # a savepoint: a failed store leaves the connection usable
            _store(snap, state, error, payload)
    except Exception:  # a result that cannot be stored must not leave the read RUNNING either
        logger.exception("Background read #%s of %s: result not stored", snap.id, snap.db_path)
        _store(snap, Snapshot.State.FAILED, _unexpected(snap), {})
    snap.refresh_from_db()
    return snap


def _unexpected(snap):
    return (
        f"Unexpected error while reading the file: the details are in the server log "
        f"under background read #{snap.id}. Check the file on the Health page."
    )


def _store(snap, state, error, payload):
    Snapshot.objects.filter(id=snap.id).update(
        state=state,
        error=error,
        payload=payload,
        finished_at=timezone.now(),
        phase="done" if state == Snapshot.State.DONE else "failed",
    )


@task
def take_snapshot_task(snapshot_id):
    """The worker's entry point (django.tasks): one queued background read."""
    take_snapshot(snapshot_id)


def page_overview(db_path):
    """What a page shows: the stored report, queueing a recount when it has none or the file
    changed since (an immediate task backend answers with the new counts at once)."""
    try:
        data = selectors.overview(db_path)
    except page_cache.NoReadYet:
        pending = request_snapshot(db_path)
        if pending.state != Snapshot.State.DONE:
            raise page_cache.NoReadYet(_waiting_for(db_path, pending)) from None
        data = selectors.overview(db_path)
    except MetamorphError:
        request_if_outdated(db_path)  # the background read records the problem for every page
        raise
    if data.needs_snapshot:
        data.pending = request_snapshot(db_path)
        if data.pending.state == Snapshot.State.DONE:
            data = selectors.overview(db_path)
    return data


def _waiting_for(db_path, pending):
    """Why a page has nothing to show yet, and what brings it."""
    db = databases.for_path(db_path)
    if pending.state == Snapshot.State.FAILED:
        return pending.error
    state = agents.state_of(db)
    if not state.online:
        return agents.offline_reason(db)
    return (
        f"The agent of database {db.name} (pid {state.pid} on {state.hostname}) is reading "
        f"the file for the first time (background read #{pending.id}, "
        f"{pending.phase or pending.state}): reload this page in a few seconds."
    )
