"""Vaults pages: thin wrappers that read selectors and render; errors become pages."""

import csv

from django.contrib import messages
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from metamorph_admin import audit
from metamorph_admin.models import AuditRecord
from metamorph_admin.permissions import require_perm
from metamorph_admin.view_helpers import metamorph_page, redirect_next
from vaults import charts, selectors
from vaults.services import snapshots

PAGE_SIZE = 50


def _overview():
    return snapshots.page_overview(selectors.metamorph_path())


def _int(value, default):
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


def _matrix_query(request):
    return {
        "query": request.GET.get("q", "").strip()[:128],
        "sort": request.GET.get("sort", ""),
        "direction": request.GET.get("dir", ""),
    }


@require_GET
@metamorph_page
def dashboard(request):
    data = _overview()
    counts = data.report["counts"]
    wanted = _matrix_query(request)
    query = wanted["query"]
    offset = _int(request.GET.get("offset"), 0)
    matrix = selectors.matrix_rows(counts, offset=offset, limit=PAGE_SIZE, **wanted)
    states = data.report["table_states"]
    return render(
        request,
        "vaults/dashboard.html",
        {
            "overview": data,
            "report": data.report,
            "counts": counts,
            "matrix": matrix,
            "q": query,
            "next_step": selectors.next_step(data.report),
            "offset": offset,
            "shown_to": offset + len(matrix["rows"]),
            "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < matrix["matched"] else None,
            "prev_offset": max(0, offset - PAGE_SIZE) if offset else None,
            "not_migrated": [
                (t, counts["tables"][t]) for t, s in states.items() if s == "not-migrated"
            ],
            "absent": [t for t, s in states.items() if s == "absent"],
            "chart": charts.bar_chart(counts["vaults"]),
            "chart_title": "Largest vaults by rows",
            "problems": [f for f in data.report["checks"] if f["status"] in ("error", "warning")]
            + [f for f in [selectors.backup_age_finding(data.report["path"])] if f],
            "check_actions": selectors.check_actions(data.report["checks"]),
        },
    )


@require_GET
@metamorph_page
def vault_detail(request):
    data = _overview()
    vault, problem = selectors.vault_from_query(data.report["counts"], request.GET)
    page = selectors.vault_page(data.report["counts"], vault)
    return render(
        request,
        "vaults/vault.html",
        {
            "overview": data,
            "page": page,
            "link_problem": problem,
            "chart_title": f"Rows per table in {vault}",
            "chart": charts.bar_chart(
                sorted(
                    ((r["table"], r["rows"]) for r in page["rows"] if r["rows"]),
                    key=lambda x: -x[1],
                ),
                limit=30,
            ),
        },
    )


@require_GET
@metamorph_page
def indexes(request):
    data = _overview()
    problems_only = request.GET.get("show") == "problems"
    return render(
        request,
        "vaults/indexes.html",
        {
            "overview": data,
            "report": data.report,
            "index_health": data.report["indexes"],
            "view": selectors.index_view(data.report["indexes"], problems_only),
            "problems_only": problems_only,
            "sizes": data.report["sizes"] or {},
        },
    )


@require_GET
@metamorph_page
def health(request):
    data = _overview()
    db_path = selectors.metamorph_path()
    return render(
        request,
        "vaults/health.html",
        {
            "overview": data,
            "health": data.report["health"],
            "integrity": data.report["integrity"],
            "full": selectors.latest_integrity_job(db_path),
        },
    )


@require_GET
@metamorph_page
def checks(request):
    data = _overview()
    findings = data.report["checks"]
    return render(
        request,
        "vaults/checks.html",
        {
            "overview": data,
            "findings": findings,
            "check_actions": selectors.check_actions(findings),
        },
    )


@require_GET
def snapshot_status(request):
    """The htmx-polled fragment saying how far the background read is.

    The page polls only while a read is under way; once it has finished, the answer tells
    htmx to reload the page so that it shows the new numbers (a failed read shows its error
    instead).
    """
    db_path = selectors.metamorph_path()
    pending = selectors.pending_snapshot(db_path)
    failed = selectors.last_failed_snapshot(db_path)
    if request.htmx and pending is None and failed is None:
        return HttpResponseClientRefresh()
    return render(
        request,
        "vaults/partials/snapshot_status.html",
        {
            "pending": pending,
            "snapshot": selectors.latest_snapshot(db_path),
            "failed": failed,
            "partial": request.GET.get("partial") == "1",
        },
    )


@require_POST
def refresh(request):
    """Queue a recount (counts, quick_check, sizes) of the configured file."""
    require_perm(request, "vaults.request_snapshot", action="request-recount")
    db_path = selectors.metamorph_path()
    snap = snapshots.request_snapshot(db_path)
    audit.record_request(
        request,
        "request-recount",
        target=db_path,
        parameters={"snapshot": snap.id},
        outcome=AuditRecord.Outcome.REQUESTED,
    )
    messages.success(
        request, "Recount queued: counts, quick_check and sizes refresh in the background."
    )
    return redirect_next(request, "vaults:dashboard")


@require_GET
@metamorph_page
def matrix_export(request, fmt):
    """The whole vault x table matrix (filtered and sorted as on the page) as CSV or JSON."""
    if fmt not in ("csv", "json"):
        raise Http404(f"The matrix exports as vaults.csv or vaults.json, not {fmt!r}.")
    data = _overview()
    counts = data.report["counts"]
    matrix = selectors.matrix_rows(counts, limit=None, **_matrix_query(request))
    name = f"metamorph-vaults-{timezone.now():%Y%m%d-%H%M%S}"
    if fmt == "json":
        response = JsonResponse(
            {
                "path": selectors.metamorph_path(),
                "counted_at": counts.get("counted_at"),
                "complete": counts.get("complete", True),
                "tables": matrix["tables"],
                "vaults": [
                    {
                        "vault": r["vault"],
                        "total": r["total"],
                        "tables": dict(zip(matrix["tables"], r["cells"], strict=True)),
                    }
                    for r in matrix["rows"]
                ],
            },
            json_dumps_params={"indent": 1},
        )
    else:
        response = StreamingHttpResponse(
            _matrix_csv(matrix), content_type="text/csv; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def _matrix_csv(matrix):
    out = csv.writer(_Line())
    yield out.writerow(["vault", "total", *matrix["tables"]])
    for row in matrix["rows"]:
        yield out.writerow([audit.csv_cell(row["vault"]), row["total"], *row["cells"]])
    yield out.writerow(
        [
            "all vaults",
            sum(r["total"] for r in matrix["rows"]),
            *[sum(r["cells"][i] for r in matrix["rows"]) for i in range(len(matrix["tables"]))],
        ]
    )


class _Line:
    """A file for csv.writer whose write() hands back the line (for a streamed download)."""

    def write(self, value):
        return value
