"""Jobs whose process died: shown as interrupted, their lock released, the end audited."""

import logging

from django.db import DatabaseError
from django.utils import timezone

from metamorph_admin import audit, kinds, liveness
from metamorph_admin.models import AuditRecord, Job, JobLog, MutationLock

logger = logging.getLogger(__name__)


def reason_for(job, cause=""):
    """What the operator reads on an interrupted job: what happened and what to do next."""
    where = f"pid {job.pid} on {job.hostname}" if job.pid else "its worker"
    cause = cause or (
        f"the process running it ({where}) stopped before it finished "
        "(killed, crashed or restarted)"
    )
    kind = kinds.KINDS.get(job.kind)
    next_step = (
        "The database may be part-way through this change: check it on the Health "
        "page (and restore the last backup if it fails) before running the job again."
        if kind is None or kind.changes_database
        else kind.if_interrupted or "It changed nothing; run it again."
    )
    return f"Interrupted: {cause}. {next_step}"


def mark_interrupted(job, reason=None):
    """Mark a running job interrupted, release its lock and audit it; False if it had ended."""
    reason = reason or reason_for(job)
    now = timezone.now()
    updated = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=Job.State.INTERRUPTED, finished_at=now, error=reason
    )
    if not updated:
        return False
    job.refresh_from_db()
    JobLog.objects.create(job=job, level="error", text=reason[:1000])
    MutationLock.objects.filter(job=job).delete()
    duration = (now - job.started_at).total_seconds() if job.started_at else None
    audit.record_job(job, AuditRecord.Outcome.FAILURE, message=reason, duration=duration)
    return True


def holder_is_gone(job, now=None):
    return liveness.holder_gone(
        job.pid,
        job.hostname,
        job.process_started,
        job.heartbeat_at or job.started_at,
        now or timezone.now(),
        liveness.STALE_AFTER,
    )


def reap_interrupted_jobs():
    """Mark every running job whose process is gone as interrupted; returns how many."""
    now = timezone.now()
    return sum(
        mark_interrupted(job)
        for job in Job.objects.filter(state=Job.State.RUNNING)
        if holder_is_gone(job, now)
    )


class ReapInterruptedJobsMiddleware:
    """Before any page is built: a job whose process died is interrupted, so no page (one
    loaded without JavaScript, which never polls) shows it as still running."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            reap_interrupted_jobs()
        except DatabaseError:  # a read-only admin database: the page (or /healthz) says so
            logger.warning("Could not mark interrupted jobs", exc_info=True)
        return self.get_response(request)
