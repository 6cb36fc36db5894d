"""Run a job: the one path every long operation takes, from a command, a task or a view.

run_job(kind, params, actor=..., origin=...)     run now, in this process (commands, tasks)
enqueue_job(kind, params, user=..., ...)         queue it for the db_worker (views)
run_queued_job(job_id)                           what the worker's task calls
"""

import dataclasses
import json
import logging
import sqlite3
import time

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from metamorph.connection import translate_error
from metamorph.errors import MetamorphError
from metamorph_admin import (
    agents,
    audit,
    backup_mirror,
    databases,
    interrupted,
    kinds,
    liveness,
    locks,
    outage,
)
from metamorph_admin.admin_db import unreachable_line
from metamorph_admin.job_progress import JobProgress
from metamorph_admin.models import AuditRecord, Job, JobLog, Origin

logger = logging.getLogger(__name__)
Outcome = AuditRecord.Outcome


def _jsonable(result):
    if result is None:
        return {}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    elif hasattr(result, "to_dict"):
        result = result.to_dict()
    return json.loads(json.dumps(result, default=str))


def create_job(kind, params, *, actor, origin, user=None, remote_addr=None, **fields):
    """A queued Job row for `kind` (its parameters stored with secrets redacted); `fields`
    set more of its columns (a command's own job is created running)."""
    job_kind = kinds.get(kind)
    params = dict(params)
    params.setdefault("db_path", databases.current().path)
    return Job.objects.create(
        kind=job_kind.name,
        db_path=str(params["db_path"]),
        parameters=audit.safe_parameters(params),
        actor=(actor or "unknown")[:150],
        origin=origin,
        started_by=user,
        remote_addr=remote_addr,
        **fields,
    )


def _create_running(kind, params, **who):
    """A job this process runs at once (a command's): its row created running and its first
    log line written in one commit, where a queued row, its claim and the line were three
    commits before the command's first read of the file."""
    now = timezone.now()
    with transaction.atomic():
        job = create_job(
            kind,
            params,
            state=Job.State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            **liveness.this_process(),
            **who,
        )
        JobLog.objects.create(job=job, text=_started_line(job))
    return job


def _started_line(job):
    return (
        f"Started by {job.actor} ({job.get_origin_display().lower()}) on "
        f"{job.hostname}, pid {job.pid}."
    )


def _claim(job):
    """Move the job from queued to running in this process; False if someone else took it."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING, started_at=now, heartbeat_at=now, **liveness.this_process()
    )
    job.refresh_from_db()
    return bool(claimed)


def _finish(job, state, *, result=None, error="", outcome, started):
    duration = time.monotonic() - started
    # The job ran on the file: its end is recorded once the dashboard's database answers.
    outage.until_back(lambda: _record_end(job, state, result, error, outcome, duration))
    if agents.required():  # what the job changed (backups, schema): the pages see it now
        db = databases.for_path(job.db_path)
        backup_mirror.mirror_soon(db)
        try:
            agents.beat_now(db)
        except (DatabaseError, MetamorphError):
            logger.warning("No heartbeat after job #%s: the next one brings it", job.pk)
    return job


def _record_end(job, state, result, error, outcome, duration):
    done = {"done": F("total")} if state == Job.State.SUCCEEDED else {}
    Job.objects.filter(pk=job.pk).update(
        state=state, result=result, error=error, finished_at=timezone.now(), **done
    )
    job.refresh_from_db()
    audit.record_job(job, outcome, message=error, duration=duration)


def found_problems(result):
    """The error of a job that ran to its end but whose own verification failed (a result
    with ok: false and failing checks): '' otherwise. Results that report findings without
    checks (an integrity check, a remap's isolation audit) keep their job succeeded."""
    if not isinstance(result, dict) or result.get("ok") is not False:
        return ""
    checks = (result.get("verification") or {}).get("checks") or result.get("checks") or []
    failed = [c.get("name") for c in checks if isinstance(c, dict) and c.get("ok") is False]
    if not failed:
        return ""
    return f"Verification found problems: {', '.join(map(str, failed))} (the result says what each is)."


def _call_engine(job, func, progress):
    """Run the engine; (state, result, error) with operator-safe error text."""
    try:
        return Job.State.SUCCEEDED, _jsonable(func(progress=progress)), ""
    except MetamorphError as exc:
        progress.log(str(exc), level="error")
        return Job.State.FAILED, None, str(exc)
    except sqlite3.DatabaseError as exc:  # e.g. a damaged page no reader translated
        message = str(translate_error(exc, job.db_path or databases.current().path))
        progress.log(message, level="error")
        return Job.State.FAILED, None, message
    except Exception as exc:
        if outage.is_outage(exc):  # the engine read the dashboard's database (a stored plan)
            message = (
                f"{unreachable_line(exc)} The job stopped there: run it again once it answers."
            )
            progress.log(message, level="error")
            return Job.State.FAILED, None, message
        logger.exception("Job #%s (%s) failed unexpectedly", job.pk, job.kind)
        message = (
            f"Unexpected error: the details are in the server log under job #{job.pk}. "
            "Check the database on the Health page before running the job again."
        )
        progress.log(message, level="error")
        return Job.State.FAILED, None, message


def run_job(
    kind, params, *, actor, origin, func=None, user=None, job=None, remote_addr=None, echo=None
):
    """Run one job to its end in this process and return its Job row.

    `func(progress=...)` is the engine call (default: the kind's engine with `params`, which
    should name the file as `db_path`); `job` is the queued row of a web job; `echo` another
    progress callable (a terminal bar). Operator errors and refusals do not raise: the returned
    job's state and error say what happened. Ctrl-C marks the job interrupted and re-raises.
    """
    job_kind = kinds.get(kind)
    func = func or job_kind.bind(params)
    queued = job is not None
    if not queued:
        job = _create_running(
            kind, params, actor=actor, origin=origin, user=user, remote_addr=remote_addr
        )
    elif not _claim(job):
        return job
    progress = JobProgress(job.pk, echo=echo)
    if queued:  # a job created running has its first line already
        progress.log(_started_line(job))
    try:
        return _run_claimed(job, job_kind, func, progress, time.monotonic())
    except BaseException:  # Ctrl-C or SystemExit: the job did not finish
        interrupted.mark_interrupted(
            job,
            interrupted.reason_for(
                job, "it was stopped by the operator (Ctrl-C) or its process was told to exit"
            ),
        )
        raise
    finally:
        outage.until_back(lambda: locks.release(job))


def _run_claimed(job, job_kind, func, progress, started):
    if job_kind.mutating:
        try:
            # A lock taken while the database goes away is taken once it answers again.
            outage.until_back(
                lambda: locks.acquire(job, note=lambda text: progress.log(text, level="warning"))
            )
        except locks.MutationInProgress as exc:
            progress.log(str(exc), level="error")
            return _finish(
                job, Job.State.FAILED, error=str(exc), outcome=Outcome.REFUSED, started=started
            )
    with locks.Heartbeat(job.pk):
        state, result, error = _call_engine(job, func, progress)
    if state == Job.State.SUCCEEDED and found_problems(result):
        # A job whose own verification failed is a failed job: the Jobs page, its badge and
        # the failed-jobs metric must say so (its result is kept for the page's summary).
        state, error = Job.State.FAILED, found_problems(result)
        progress.log(error, level="error")
    progress.flush()
    progress.log(f"Finished: {state} in {time.monotonic() - started:.1f} s.")
    outcome = Outcome.SUCCESS if state == Job.State.SUCCEEDED else Outcome.FAILURE
    return _finish(job, state, result=result, error=error, outcome=outcome, started=started)


def enqueue_job(kind, params, *, user, remote_addr=None):
    """Queue a web-started job for the database's agent, after checking permission, that the
    agent is online and the lock.

    Raises PermissionDenied, AgentOffline (with the command that starts the agent), or
    MutationInProgress (the refusal is recorded on a failed job).
    """
    job_kind = kinds.get(kind)
    if not user.has_perm(job_kind.permission):
        raise PermissionDenied(f"{user.get_username()} may not start {job_kind.label} jobs.")
    if any(audit.is_secret_name(name) for name in params):
        raise ValueError("Job parameters must not carry secrets: they are stored on the job.")
    # The web only ever works on the page's database, whatever a form may carry.
    db = databases.current()
    agents.ensure_online(db)
    params = {**params, "db_path": db.path}
    job = create_job(
        kind,
        params,
        actor=user.get_username(),
        origin=Origin.WEB,
        user=user,
        remote_addr=remote_addr,
    )
    holder = locks.current_holder(job.db_path) if job_kind.mutating else None
    if holder is not None:
        refusal = locks.MutationInProgress(holder, locks.lock_key(job.db_path))
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.FAILED, error=str(refusal), finished_at=timezone.now()
        )
        job.refresh_from_db()
        audit.record_job(job, Outcome.REFUSED, message=str(refusal))
        raise refusal
    audit.record_job(job, Outcome.REQUESTED)
    # Only the agent of this database takes its queue: the job runs where the file is.
    run_job_task.using(queue_name=agents.queue_for(db.name)).enqueue(job.pk)
    job.refresh_from_db()
    return job


def run_queued_job(job_id):
    """Run a queued web job (called by the worker's task); an unknown kind fails the job."""
    job = Job.objects.filter(pk=job_id).select_related("started_by").first()
    if job is None or job.state != Job.State.QUEUED:
        return job  # deleted, or already run by another delivery of the same task
    try:
        kinds.get(job.kind)
    except kinds.UnknownJobKind as exc:
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.FAILED, error=str(exc), finished_at=timezone.now()
        )
        job.refresh_from_db()
        audit.record_job(job, Outcome.FAILURE, message=str(exc))
        return job
    return run_job(
        job.kind, job.parameters, actor=job.actor, origin=job.origin, user=job.started_by, job=job
    )


@task
def run_job_task(job_id):
    """The worker's entry point (django.tasks): run one queued web job."""
    run_queued_job(job_id)
