"""Vaults pages: thin wrappers that read selectors and render; errors become pages."""
from django.contrib import messages
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from metamorph.errors import MetamorphError
from metamorph_admin.models import AuditRecord
from metamorph_admin.permissions import require_perm
from metamorph_admin import audit
from metamorph_admin.view_helpers import metamorph_page, redirect_next
from vaults import charts, selectors
from vaults.models import Snapshot
from vaults.services import snapshots

PAGE_SIZE = 50


def _overview():
    db_path = selectors.metamorph_path()
    try:
        data = selectors.overview(db_path)
    except MetamorphError:
        snapshots.request_if_outdated(db_path)  # so every page learns of the problem
        raise
    if data.needs_snapshot:
        data.pending = snapshots.request_snapshot(db_path)
        if data.pending.state == Snapshot.State.DONE:  # the immediate backend ran it already
            data = selectors.overview(db_path)
    return data


def _int(value, default):
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


@require_GET
@metamorph_page
def dashboard(request):
    data = _overview()
    counts = data.report["counts"]
    query = request.GET.get("q", "").strip()[:128]
    offset = _int(request.GET.get("offset"), 0)
    matrix = selectors.matrix_rows(counts, query, offset, PAGE_SIZE)
    states = data.report["table_states"]
    return render(request, "vaults/dashboard.html", {
        "o": data, "r": data.report, "counts": counts, "matrix": matrix, "q": query,
        "offset": offset, "shown_to": offset + len(matrix["rows"]), "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < matrix["matched"] else None,
        "prev_offset": max(0, offset - PAGE_SIZE) if offset else None,
        "not_migrated": [(t, counts["tables"][t]) for t, s in states.items() if s == "not-migrated"],
        "absent": [t for t, s in states.items() if s == "absent"],
        "chart": charts.bar_chart(counts["vaults"]), "chart_title": "Largest vaults by rows",
        "problems": [f for f in data.report["checks"] if f["status"] in ("error", "warning")],
    })


@require_GET
@metamorph_page
def vault_detail(request):
    vault = request.GET.get("id", "")
    data = _overview()
    page = selectors.vault_page(data.report["counts"], vault)
    return render(request, "vaults/vault.html", {
        "o": data, "page": page, "chart_title": f"Rows per table in {vault}",
        "chart": charts.bar_chart(sorted(((r["table"], r["rows"]) for r in page["rows"]
                                          if r["rows"]), key=lambda x: -x[1]), limit=30)})


@require_GET
@metamorph_page
def indexes(request):
    data = _overview()
    return render(request, "vaults/indexes.html", {"o": data, "r": data.report,
                                                   "ix": data.report["indexes"],
                                                   "sizes": data.report["sizes"] or {}})


@require_GET
@metamorph_page
def health(request):
    data = _overview()
    db_path = selectors.metamorph_path()
    return render(request, "vaults/health.html", {
        "o": data, "h": data.report["health"], "integrity": data.report["integrity"],
        "full": selectors.latest_integrity_job(db_path)})


@require_GET
@metamorph_page
def checks(request):
    data = _overview()
    return render(request, "vaults/checks.html", {"o": data, "findings": data.report["checks"]})


@require_GET
def snapshot_status(request):
    """The htmx-polled fragment saying how far the background read is."""
    db_path = selectors.metamorph_path()
    return render(request, "vaults/partials/snapshot_status.html", {
        "pending": selectors.pending_snapshot(db_path),
        "snapshot": selectors.latest_snapshot(db_path),
        "failed": selectors.last_failed_snapshot(db_path)})


@require_POST
def refresh(request):
    """Queue a recount (counts, quick_check, sizes) of the configured file."""
    require_perm(request, "vaults.request_snapshot", action="request-recount")
    db_path = selectors.metamorph_path()
    snap = snapshots.request_snapshot(db_path)
    audit.record_request(request, "request-recount", target=db_path,
                         parameters={"snapshot": snap.id}, outcome=AuditRecord.Outcome.REQUESTED)
    messages.success(request, "Recount queued: counts, quick_check and sizes refresh in the "
                              "background.")
    return redirect_next(request, "vaults:dashboard")
