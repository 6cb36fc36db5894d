"""Read side of the Jobs and Audit pages."""
import json

from metamorph_admin.models import AuditRecord, Job

LOG_LINES_SHOWN = 200


def jobs(kind="", state="", origin=""):
    """Jobs from the web and the command line, newest first."""
    found = Job.objects.select_related("started_by")
    if kind:
        found = found.filter(kind=kind)
    if state:
        found = found.filter(state=state)
    if origin:
        found = found.filter(origin=origin)
    return found


def log_tail(job, lines=LOG_LINES_SHOWN):
    """The newest `lines` log lines of a job, oldest first, and whether older ones exist."""
    newest = list(job.log_lines.order_by("-id")[:lines + 1])
    return list(reversed(newest[:lines])), len(newest) > lines


def result_rows(job):
    """The job's result as rows of key, text and whether it needs a block (nested or long)."""
    if not isinstance(job.result, dict):
        return []
    rows = []
    for key, value in job.result.items():
        nested = isinstance(value, (dict, list))
        text = json.dumps(value, indent=2, sort_keys=True) if nested else str(value)
        rows.append({"key": key, "text": text, "block": nested or len(text) > 80})
    return rows


def audit_records(action="", outcome="", actor="", since=None, until=None):
    """Audit records matching the filters, newest first."""
    found = AuditRecord.objects.all()
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
