"""Legacy remap pages: choose a rule, preview it (stored), execute or undo it as a job."""

import csv
import itertools

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from metamorph import remap
from metamorph.remap import source_ids
from metamorph_admin import audit, databases, kinds
from metamorph_admin.models import Job
from metamorph_admin.permissions import require_perm
from metamorph_admin.view_helpers import metamorph_page
from vaults import forms, page_cache, selectors
from vaults.models import RemapPlanRecord
from vaults.services import remap as remap_service
from vaults.services import snapshots
from vaults.services.plan_state import plan_state

FORMS = {"move": forms.MoveForm, "owner": forms.OwnerForm, "mapping": forms.MappingForm}
RECENT = 20


def _owner_sources(db_path, source):
    return page_cache.owner_sources(db_path, source)


def _page(request, bound=None, kind=None, status=200):
    db_path = selectors.metamorph_path()
    source = request.GET.get("source") or "default-vault"
    built = {
        "move": forms.MoveForm(),
        "mapping": forms.MappingForm(),
        "owner": forms.OwnerForm(sources=_owner_sources(db_path, source)),
    }
    if bound is not None:
        built[kind] = bound
    counted = snapshots.page_overview(db_path)
    return render(
        request,
        "vaults/remap.html",
        {
            "forms": built,
            "owner_sources": built["owner"].sources,
            "incomplete": remap.incomplete_plans(db_path),
            "plans": [
                (r, plan_state(r)) for r in RemapPlanRecord.objects.filter(db_path=db_path)[:RECENT]
            ],
            "db_name": databases.confirmation_word(),
            # From the background read (never a live audit in the request: seconds on a big file).
            "audit": counted.report["isolation"],
            "audit_pending": counted.snapshot is None,
        },
        status=status,
    )


@require_GET
@metamorph_page
def remap_index(request):
    return _page(request)


@require_POST
@metamorph_page
def remap_preview(request, kind):
    require_perm(request, "metamorph_admin.run_remap", action="remap-preview")
    db_path = selectors.metamorph_path()
    if kind not in FORMS:
        return redirect("vaults:remap")
    extra = (
        {"sources": _owner_sources(db_path, request.POST.get("source") or "default-vault")}
        if kind == "owner"
        else {}
    )
    form = FORMS[kind](request.POST, request.FILES, **extra)
    if not form.is_valid():
        audit.record_refused_input(request, "remap-preview", form=form, target=db_path)
        return _page(request, form, kind)
    try:
        record = remap_service.preview(db_path, form.rule(), request.user.get_username())
    except remap_service.MetamorphError as exc:
        form.add_error(None, str(exc))
        audit.record_refused_input(request, "remap-preview", message=str(exc), target=db_path)
        return _page(request, form, kind)
    audit.record_request(
        request,
        "remap-preview",
        target=db_path,
        parameters={"plan_id": record.plan_id, "rule": record.description},
        outcome="success",
    )
    return redirect("vaults:remap_plan", plan_id=record.plan_id)


def _stored_plan(plan_id):
    """The stored plan's record and plan, or a 404 inside the site."""
    try:
        return remap_service.load(plan_id)
    except remap_service.StoredPlanNotFound as exc:
        raise Http404(str(exc)) from None


@require_GET
@metamorph_page
def remap_plan(request, plan_id):
    record, plan = _stored_plan(plan_id)
    return render(
        request,
        "vaults/remap_plan.html",
        {
            "record": record,
            "preview": plan.preview,
            "state": plan_state(record),
            "db_name": databases.confirmation_word(),
            "execute_form": forms.ExecuteForm(initial={"plan_id": plan_id}),
            "undo_form": forms.UndoForm(auto_id="undo_%s", initial={"plan_id": plan_id}),
            "jobs": Job.objects.of_kinds(kinds.names_in_group("remap"))
            .filter(parameters__plan_id=plan_id)
            .order_by("-id")[:10],
        },
    )


@require_GET
@metamorph_page
def remap_mapping_ids(request, plan_id):
    """Where each of the mapping file's ids was found, as CSV (spreadsheet-formula safe)."""
    _record, plan = _stored_plan(plan_id)
    summary = plan.preview.get("mapping_ids")
    if not summary:
        raise Http404("This plan has no mapping file.")
    writer = csv.writer(_Echo())
    rows = (
        [line, root, vault, found]
        for line, root, vault, found in remap.found_rows(plan.rule, summary)
    )
    lines = itertools.chain(
        [writer.writerow(["line", plan.rule.key, "vault_id", "found_in"])],
        (writer.writerow([audit.csv_cell(v) for v in r]) for r in rows),
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{plan_id}-mapping-ids.csv"'
    return response


@require_GET
@metamorph_page
def remap_source_ids(request):
    """The source vault's conversation/session ids with their row counts, as the CSV a mapping
    file is made from: fill in vault_id, upload it (empty rows stay)."""
    source = request.GET.get("source") or "default-vault"
    rows = source_ids.template_rows(selectors.metamorph_path(), source)
    writer = csv.writer(_Echo())
    lines = (writer.writerow([audit.csv_cell(v) for v in r]) for r in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in source)[:60]
    response["Content-Disposition"] = f'attachment; filename="{name}-ids-to-map.csv"'
    return response


class _Echo:
    def write(self, value):
        return value
