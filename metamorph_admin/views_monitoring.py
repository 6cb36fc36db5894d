"""/metrics (Prometheus, bearer token) and /healthz (the dashboard itself): no login pages.

Neither reveals a path, a vault's data or a secret beyond what its caller is allowed:
/healthz says only ok/degraded/down per check; /metrics needs METRICS_TOKEN.
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from metamorph_admin import admin_db, agents, databases
from metamorph_admin import metrics as metrics_registry
from metamorph_admin.models import Job

logger = logging.getLogger(__name__)
# A web job still queued after this long means no task worker is taking jobs.
WORKER_STALLED_AFTER = timedelta(minutes=5)


def _bearer(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@never_cache
@login_not_required
@require_GET
def metrics(request):
    """Prometheus text for the configured Metamorph file; 404 while METRICS_TOKEN is unset."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN to turn /metrics on (see docs/monitoring.md).\n",
            status=404,
            content_type="text/plain",
        )
    if not hmac.compare_digest(_bearer(request).encode(), expected.encode()):
        logger.warning(
            "Refused /metrics: missing or wrong bearer token (from %s)",
            request.META.get("REMOTE_ADDR"),
        )
        response = HttpResponse(
            "A valid 'Authorization: Bearer <METRICS_TOKEN>' header is needed.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metamorph-admin metrics"'
        return response
    body = metrics_registry.render([(db.name, db.path) for db in databases.configured()])
    return HttpResponse(body, content_type=metrics_registry.CONTENT_TYPE)


def _file_problem(db):
    """The kind of problem of the database's file as its agent last saw it ("" when fine);
    an agent not reporting is AgentOffline: nothing vouches for the file then."""
    live = agents.live_facts(db)
    if live.problem:
        return (live.facts or {}).get("problem_kind", "FileProblem")
    return "AgentOffline" if live.stale else ""


def _metamorph_files():
    """ "ok", or each unusable database by name with the kind of problem (never its path)."""
    problems = []
    for db in databases.configured():
        kind = _file_problem(db)
        if kind:
            problems.append(kind if not databases.several() else f"{db.name}: {kind}")
    return "; ".join(problems) or "ok"


def _worker():
    stalled = Job.objects.filter(
        state=Job.State.QUEUED, created_at__lt=timezone.now() - WORKER_STALLED_AFTER
    ).count()
    return "ok" if not stalled else f"stalled: {stalled} job(s) queued for over 5 minutes"


@never_cache
@login_not_required
@require_GET
def healthz(request):
    """Is the dashboard able to serve and run jobs? 200 ok/degraded, 503 when its own database
    is down (a load balancer should then take it out)."""
    admin_problem = admin_db.problem()
    read_only = "" if admin_problem else admin_db.write_problem()
    if read_only:  # a dashboard that cannot record a login or a job is down too
        admin_problem = admin_db.write_refusal_line(read_only)
    checks = {"admin_database": "read-only" if read_only else "down" if admin_problem else "ok"}
    if checks["admin_database"] == "ok":
        checks["metamorph_file"] = _metamorph_files()
        checks["task_worker"] = _worker()
    if checks["admin_database"] != "ok":
        status = "down"
    else:
        status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    body = {"status": status, "checks": checks}
    if admin_problem:
        body["problem"] = admin_db.without_paths(admin_problem)
    return JsonResponse(body, status=503 if status == "down" else 200)
