"""One mutating job at a time per Metamorph file, across the web worker and commands.

The lock is a MutationLock row whose db_path is unique, so two processes racing for it cannot
both insert one. A lock whose holder process is gone (see liveness) is released by the next job
that asks for it, and the holder job is marked interrupted.
"""

import logging
import os
import threading

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from metamorph.errors import MetamorphError
from metamorph_admin import databases, interrupted, liveness, outage
from metamorph_admin.models import Job, MutationLock, Origin

logger = logging.getLogger(__name__)


class MutationInProgress(MetamorphError):
    """Another job holds the database's mutation lock."""

    def __init__(self, holder, db_path):
        since = holder.started_at or holder.created_at
        where = "the command line" if holder.origin == Origin.CLI else "the web"
        super().__init__(
            f"Refused: {holder.kind} job #{holder.pk}, started by {holder.actor} from {where} "
            f"since {since:%Y-%m-%d %H:%M:%S} UTC, is already changing {db_path}. Only one job "
            f"may change a database at a time: wait for job #{holder.pk} to finish (Jobs page), "
            "then try again."
        )
        self.holder = holder


def lock_key(db_path):
    """One key per file, however it was spelled (relative path, symlink, or a bind mount of a
    configured database: the configured one's key)."""
    db = databases.configured_at(db_path)
    return os.path.realpath(db.path if db is not None else db_path)


def _stale(lock, now):
    if lock.job.state != Job.State.RUNNING:
        return True  # its job ended without releasing it
    return liveness.holder_gone(
        lock.pid, lock.hostname, lock.process_started, lock.heartbeat_at, now, liveness.STALE_AFTER
    )


def _release_stale(lock, note):
    # Delete only the row we judged, in case its holder was replaced meanwhile.
    deleted, _ = MutationLock.objects.filter(pk=lock.pk, job_id=lock.job_id).delete()
    if deleted:
        interrupted.mark_interrupted(lock.job)
        note(
            f"Released a stale lock on {lock.db_path} left by {lock.job.kind} job "
            f"#{lock.job_id} (pid {lock.pid} on {lock.hostname}, no longer running)."
        )


def current_holder(db_path, note=lambda text: None):
    """The running job holding the file's lock, or None (a stale lock is released on the way)."""
    lock = MutationLock.objects.select_related("job").filter(db_path=lock_key(db_path)).first()
    if lock is None:
        return None
    if _stale(lock, timezone.now()):
        _release_stale(lock, note)
        return None
    return lock.job


def acquire(job, note=lambda text: None):
    """Take the file's lock for `job`, or raise MutationInProgress naming the holder."""
    key = lock_key(job.db_path)
    for _ in range(3):
        holder = current_holder(key, note)
        if holder is not None:
            raise MutationInProgress(holder, key)
        try:
            with transaction.atomic():
                return MutationLock.objects.create(
                    db_path=key, job=job, heartbeat_at=timezone.now(), **liveness.this_process()
                )
        except IntegrityError:
            continue  # another process inserted between our read and our insert
    raise MutationInProgress(current_holder(key) or job, key)


def release(job):
    MutationLock.objects.filter(job=job).delete()


class Heartbeat:
    """While a job runs, touch its row and lock every HEARTBEAT_SECONDS from a daemon thread."""

    def __init__(self, job_id, interval=None):
        self.job_id = job_id
        self.interval = interval or liveness.HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, daemon=True, name=f"job-{job_id}-heartbeat"
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self):
        try:
            wait = self.interval
            while not self._stop.wait(wait):
                wait = self.interval
                try:  # a missed beat is retried; the job itself must go on
                    if not outage.or_skip(self._touch):
                        # The database is away: beat as soon as it answers, before anyone
                        # takes this job's silence for a dead agent.
                        wait = outage.RETRY_SECONDS
                except Exception:
                    logger.warning("Heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            connection.close()

    def _touch(self):
        now = timezone.now()
        Job.objects.filter(pk=self.job_id).update(heartbeat_at=now)
        MutationLock.objects.filter(job_id=self.job_id).update(heartbeat_at=now)
