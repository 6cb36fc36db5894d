"""Jobs and Audit pages: thin wrappers around the job services and selectors."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from metamorph_admin import agents, audit, databases, jobs, kinds, locks, selectors
from metamorph_admin.forms import AuditFilterForm, JobFilterForm
from metamorph_admin.models import AuditRecord, Job
from metamorph_admin.permissions import permission_required, require_perm
from metamorph_admin.view_helpers import redirect_next

PAGE_SIZE = 50


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@require_GET
def job_list(request):
    form = JobFilterForm(request.GET)
    # Shown to every role; the template disables those the user's role cannot run.
    startable = [k for k in kinds.KINDS.values() if k.form is None]
    return render(
        request,
        "metamorph_admin/jobs.html",
        {
            "form": form,
            "page": _page(request, selectors.jobs(**form.filters())),
            "startable": startable,
        },
    )


def _job_context(pk):
    job = get_object_or_404(Job.objects.select_related("started_by"), pk=pk)
    log, truncated = selectors.log_tail(job)
    return {
        "job": job,
        "log": log,
        "log_truncated": truncated,
        "summary": selectors.job_summary(job),
        "raw_result": selectors.raw_result(job),
        "kind_label": kinds.label(job.kind),
        "way_back": selectors.way_back(job),
    }


@require_GET
def job_detail(request, pk):
    return render(request, "metamorph_admin/job.html", _job_context(pk))


@require_GET
def job_progress(request, pk):
    """The htmx-polled fragment: progress, log tail and result, one copy for page and poll."""
    return render(request, "metamorph_admin/partials/job_progress.html", _job_context(pk))


@require_GET
def job_wait(request, pk):
    """The banner a page shows while one of its jobs runs; once the job has finished it tells
    htmx to reload the page, which then shows the new state and its actions."""
    job = get_object_or_404(Job, pk=pk)
    if job.finished and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "metamorph_admin/partials/active_job.html", {"active_job": job})


@require_GET
def job_log(request, pk):
    job = get_object_or_404(Job, pk=pk)
    lines = (
        f"{line.at:%Y-%m-%d %H:%M:%S} {line.level:<7} {line.text}\n" for line in job.log_lines.all()
    )
    return HttpResponse("".join(lines), content_type="text/plain; charset=utf-8")


@require_POST
def start_job(request, kind):
    """Start a `kind` job with its form's parameters, always on the configured database."""
    job_kind = kinds.KINDS.get(kind)
    if job_kind is None:
        raise Http404(f"No job kind {kind!r}.")
    require_perm(request, job_kind.permission, action=kind)
    params = {}
    if job_kind.form is not None:
        form = job_kind.form_class()(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
            audit.record_refused_input(request, kind, form=form, target=databases.current().path)
            return redirect_next(request)
        params = form.cleaned_data
    try:
        job = jobs.enqueue_job(
            kind, params, user=request.user, remote_addr=audit.client_address(request)
        )
    except (locks.MutationInProgress, agents.AgentOffline) as exc:
        messages.error(request, str(exc))
        return redirect_next(request)
    return redirect("core:job", pk=job.pk)


@require_GET
@permission_required("metamorph_admin.view_audit")
def audit_list(request):
    form = AuditFilterForm(request.GET)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "metamorph_admin/audit.html",
        {
            "form": form,
            "page": _page(request, selectors.audit_records(**form.filters())),
            "export_query": query.urlencode(),
        },
    )


@require_GET
@permission_required("metamorph_admin.view_audit")
def audit_export(request):
    """The filtered audit trail as a streamed, spreadsheet-safe CSV file."""
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    audit.record_request(
        request,
        "export-audit",
        outcome=AuditRecord.Outcome.SUCCESS,
        parameters={k: str(v) for k, v in filters.items()},
    )
    response = StreamingHttpResponse(
        audit.csv_lines(selectors.audit_records(**filters)), content_type="text/csv; charset=utf-8"
    )
    name = f"metamorph-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
