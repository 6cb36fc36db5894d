"""The audit trail: who did what, with which parameters, and how it ended."""

import csv
import json
from dataclasses import dataclass
from typing import Any

from metamorph.identifiers import shown
from metamorph_admin.models import AuditRecord, Origin

# Parameter names whose values are never stored (backups hold OAuth tokens; so may arguments).
SECRET_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "credential",
    "authorization",
    "cookie",
    "session_key",
)
REDACTED = "[redacted]"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = [
    "at",
    "actor",
    "origin",
    "action",
    "target",
    "parameters",
    "outcome",
    "duration_s",
    "job",
    "remote_addr",
    "message",
]


def is_secret_name(name):
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def safe_parameters(value):
    """A JSON-safe copy of `value` with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {
            str(k): REDACTED if is_secret_name(k) else safe_parameters(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [safe_parameters(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def client_address(request):
    """The peer address as the server saw it (a proxy header can be forged, so it is not used)."""
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class Actor:
    """Who did something: a login on the web, or the OS user of a command."""

    name: str
    origin: str = Origin.WEB
    user: Any = None  # the login, when there is one
    remote_addr: str | None = None

    @classmethod
    def of_request(cls, request):
        user = request.user if request.user.is_authenticated else None
        return cls(
            request.user.get_username() or "anonymous", Origin.WEB, user, client_address(request)
        )

    @classmethod
    def of_job(cls, job):
        return cls(job.actor, job.origin, job.started_by, job.remote_addr)


def record(
    action, actor, *, outcome, target="", parameters=None, message="", duration=None, job=None
):
    """Write one audit record; parameters are stored with secrets redacted."""
    return AuditRecord.objects.create(
        action=action[:64],
        outcome=outcome,
        actor=(actor.name or "unknown")[:150],
        user=actor.user,
        origin=actor.origin,
        target=str(target)[:1024],
        parameters=safe_parameters(parameters or {}),
        message=message[:4000],
        duration=None if duration is None else round(duration, 3),
        job=job,
        remote_addr=actor.remote_addr,
    )


def record_request(
    request, action, *, outcome, target="", parameters=None, message="", duration=None, job=None
):
    """Write an audit record for something the logged-in user did in a web request."""
    return record(
        action,
        Actor.of_request(request),
        outcome=outcome,
        target=target,
        parameters=parameters,
        message=message,
        duration=duration,
        job=job,
    )


# Posted fields that are plumbing, not the operator's input.
_FORM_PLUMBING = ("csrfmiddlewaretoken", "next")


def form_errors_text(form):
    """Every error of a bound form, as the one line the operator was shown."""
    return " ".join(e for errors in form.errors.values() for e in errors)


def posted_parameters(request):
    """What the operator posted: the form's fields (not its plumbing), files by name only."""
    posted = {k: request.POST.get(k) for k in request.POST if k not in _FORM_PLUMBING}
    posted.update({k: f"(file {f.name}, {f.size} bytes)" for k, f in request.FILES.items()})
    return posted


def record_refused_input(request, action, *, form=None, message="", target=""):
    """Audit input the site refused (a form error, a wrong typed confirmation, a refused
    preview): what was posted (files by name only, secrets redacted) and why."""
    posted = posted_parameters(request)
    text = message or (form_errors_text(form) if form is not None else "")
    return record_request(
        request,
        action,
        outcome=AuditRecord.Outcome.REFUSED,
        target=target,
        parameters=posted,
        message=text,
    )


def record_job(job, outcome, message="", duration=None):
    """Write the audit record of a job's request or outcome, copying who and what from the job."""
    return record(
        job.kind,
        Actor.of_job(job),
        outcome=outcome,
        target=job.db_path,
        parameters=job.parameters,
        message=message,
        duration=duration,
        job=job,
    )


def csv_cell(value, exact=False):
    """The value as a CSV cell a spreadsheet will show as text, never run as a formula, with
    control and bidi characters escaped (metamorph.identifiers) — unless `exact`: a file that
    is read back (a mapping file) keeps every id as stored."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = value if exact else shown(value)
        if value.startswith(FORMULA_STARTS):
            return "'" + value
    return value


class _Line:
    def write(self, value):
        return value


def csv_lines(records):
    """The records as CSV text, one line at a time (for a streamed download)."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for r in records.iterator(chunk_size=500):
        row = [
            r.at.isoformat(),
            r.actor,
            r.origin,
            r.action,
            r.target,
            json.dumps(r.parameters, sort_keys=True),
            r.outcome,
            r.duration,
            r.job_id,
            r.remote_addr,
            r.message,
        ]
        yield writer.writerow([csv_cell(v) for v in row])
