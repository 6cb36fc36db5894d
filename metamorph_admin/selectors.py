"""Read side of the Jobs and Audit pages."""

import json
import logging

from django.urls import NoReverseMatch, reverse

from metamorph_admin import job_summary as job_summary_module
from metamorph_admin import kinds
from metamorph_admin.models import AuditRecord, Job

logger = logging.getLogger(__name__)

LOG_LINES_SHOWN = 200


def jobs(kind="", state="", origin="", db_path=""):
    """Jobs from the web and the command line, newest first (of one database's file)."""
    found = Job.objects.select_related("started_by")
    if db_path:
        found = found.for_file(db_path)
    if kind:
        found = found.filter(kind=kind)
    if state:
        found = found.filter(state=state)
    if origin:
        found = found.filter(origin=origin)
    return found


def log_tail(job, lines=LOG_LINES_SHOWN):
    """The newest `lines` log lines of a job, oldest first, and whether older ones exist."""
    newest = list(job.log_lines.order_by("-id")[: lines + 1])
    return list(reversed(newest[:lines])), len(newest) > lines


def job_summary(job):
    """The finished job's summary in words (None while it runs or when it failed early; a
    job whose verification failed keeps its result, and its summary names the failures)."""
    if job.state not in (Job.State.SUCCEEDED, Job.State.FAILED) or not isinstance(job.result, dict):
        return None
    kind = kinds.KINDS.get(job.kind)
    try:
        return kind.summarize(job) if kind else job_summary_module.generic(job)
    except Exception:  # a summary must never hide the job: the raw result is still there
        logger.exception("Summary of job #%s (%s) failed", job.pk, job.kind)
        return job_summary_module.generic(job)


def outcome_line(job):
    """What a list of jobs says about one: a finished job's result (its summary's headline),
    else its error, else the step it is at."""
    if job.state == Job.State.SUCCEEDED:
        summary = job_summary(job)
        if summary is not None and summary.headline:
            return summary.headline
    return job.error or job.message


def raw_result(job):
    """The stored result as indented JSON, for the folded raw details."""
    return json.dumps(job.result, indent=2, sort_keys=True) if job.result else ""


def audit_records(action="", outcome="", actor="", since=None, until=None, db_path=""):
    """Audit records matching the filters, newest first (`db_path`: about that file)."""
    found = AuditRecord.objects.all()
    if db_path:
        found = found.filter(target=db_path)
    if action:
        found = found.filter(action=action)
    if outcome:
        found = found.filter(outcome=outcome)
    if actor:
        found = found.filter(actor__icontains=actor)
    if since:
        found = found.filter(at__date__gte=since)
    if until:
        found = found.filter(at__date__lte=until)
    return found


def active_job(db_path, kinds):
    """The queued or running job of one of `kinds` on this file (oldest first), or None."""
    return Job.objects.for_file(db_path).of_kinds(kinds).in_progress().order_by("id").first()


# The page that lists a group's jobs (see JobKind.group), for a job page's way back.
GROUP_PAGES = {
    "migrations": ("Migrations", "migrations_ui:migrations"),
    "backups": ("Backups", "migrations_ui:backups"),
    "remap": ("Remap", "vaults:remap"),
}


def way_back(job):
    """(label, url) of the page this job belongs to: its remap plan, else its group's page."""
    plan_id = (job.parameters or {}).get("plan_id")
    if plan_id:
        try:
            return f"Plan {plan_id}", reverse("vaults:remap_plan", args=[plan_id])
        except NoReverseMatch:
            pass
    kind = kinds.KINDS.get(job.kind)
    page = GROUP_PAGES.get(kind.group if kind else "")
    if page is None:
        return None
    try:
        return page[0], reverse(page[1])
    except NoReverseMatch:
        return None
