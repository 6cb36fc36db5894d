"""Legacy remap pages: choose a rule, preview it (stored), execute or undo it as a job. What
they show of the file (owner columns, the plans' journal states, a preview, the source
vault's ids) the database's agent read (vaults.services.remap_reads)."""

import csv
import itertools
from urllib.parse import quote

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from metamorph import remap
from metamorph_admin import agent_reads, agents, audit, databases, kinds
from metamorph_admin.models import AgentRead, Job
from metamorph_admin.permissions import require_perm
from metamorph_admin.view_helpers import metamorph_page
from vaults import forms
from vaults.models import RemapPlanRecord
from vaults.services import remap as remap_service
from vaults.services import remap_reads, snapshots
from vaults.services.plan_state import plan_state

FORMS = {"move": forms.MoveForm, "owner": forms.OwnerForm, "mapping": forms.MappingForm}
RECENT = remap_reads.RECENT


def _owner_read(db, source):
    cookie = (agents.live_facts(db).facts or {}).get("schema_cookie")
    return agent_reads.Shown.of(remap_reads.owner_sources(db, source, cookie))


def _polled(request):
    """An htmx poll of a page waiting for its agent's read (it starts no new read)."""
    return bool(request.headers.get("HX-Request"))


def _page(request, bound=None, kind=None, status=200):
    db = databases.current()
    source = request.GET.get("source") or "default-vault"
    owners = _owner_read(db, source)
    plans = agent_reads.Shown.of(remap_reads.plans(db, polled=_polled(request)))
    built = {
        "move": forms.MoveForm(),
        "mapping": forms.MappingForm(),
        "owner": forms.OwnerForm(sources=owners.result or ()),
    }
    if bound is not None:
        built[kind] = bound
    counted = snapshots.page_overview(db.path)
    journal = (plans.result or {}).get("status", {})
    return render(
        request,
        "vaults/remap.html",
        {
            "forms": built,
            "owner_sources": built["owner"].sources,
            "owners_read": owners,
            "plans_read": plans,
            "waiting": owners.waiting or plans.waiting,
            "incomplete": (plans.result or {}).get("incomplete", []),
            "plans": [
                (r, plan_state(r, journal.get(r.plan_id, {})))
                for r in RemapPlanRecord.objects.filter(db_path=db.path)[:RECENT]
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


def _owner_sources_for(db, source):
    """The owner columns the agent read for `source`, or the operator's line why not yet."""
    owners = _owner_read(db, source)
    if owners.result is None:
        raise remap_service.MetamorphError(
            owners.error
            or f"The owner columns of {source} are still being read by the agent of database "
            f"{db.name}: open the Remap page again in a moment, then preview."
        )
    return owners.result


@require_POST
@metamorph_page
def remap_preview(request, kind):
    require_perm(request, "metamorph_admin.run_remap", action="remap-preview")
    db = databases.current()
    if kind not in FORMS:
        return redirect("vaults:remap")
    try:
        extra = (
            {"sources": _owner_sources_for(db, request.POST.get("source") or "default-vault")}
            if kind == "owner"
            else {}
        )
    except remap_service.MetamorphError as exc:
        audit.record_refused_input(request, "remap-preview", message=str(exc), target=db.path)
        form = FORMS[kind](request.POST, request.FILES)
        form.add_error(None, str(exc))
        return _page(request, form, kind)
    form = FORMS[kind](request.POST, request.FILES, **extra)
    if not form.is_valid():
        audit.record_refused_input(request, "remap-preview", form=form, target=db.path)
        return _page(request, form, kind)
    read = remap_reads.preview(
        db, form.rule(), audit.Actor.of_request(request), audit.posted_parameters(request)
    )
    if read.state == read.State.FAILED:  # its agent audited the refusal
        form.add_error(None, read.error)
        return _page(request, form, kind)
    if read.state == read.State.DONE:
        return redirect("vaults:remap_plan", plan_id=read.result["plan_id"])
    return redirect("vaults:remap_preview_wait", read_id=read.pk)


@require_GET
@metamorph_page
def remap_preview_wait(request, read_id):
    """A preview its agent is computing: polls (htmx) until the plan is stored, then opens it."""
    db = databases.current()
    read = AgentRead.objects.filter(pk=read_id, database=db.name, kind=remap_reads.PREVIEW).first()
    if read is None:
        raise Http404(f"No preview #{read_id} of database {db.name}.")
    if read.state == read.State.DONE:
        return agent_reads.redirect_when_in(
            request, reverse("vaults:remap_plan", args=[read.result["plan_id"]])
        )
    return render(
        request,
        "vaults/remap_wait.html",
        {"shown": agent_reads.Shown.of(read), "poll_url": request.path, "what": "The preview"},
    )


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
    db = databases.current()
    journal = agent_reads.Shown.of(remap_reads.plan(db, plan_id, polled=_polled(request)))
    return render(
        request,
        "vaults/remap_plan.html",
        {
            "record": record,
            "preview": plan.preview,
            "journal_read": journal,
            "state": plan_state(
                record, ((journal.result or {}).get("status") or {}).get(plan_id, {})
            ),
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
        (writer.writerow([audit.csv_cell(v, exact=True) for v in r]) for r in rows),
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
    db = databases.current()
    read = _source_ids_read(request, db, source)
    wanted = f"{reverse('vaults:remap_source_ids')}?source={quote(source)}&read={read.pk}"
    if read.state != read.State.DONE:
        shown = agent_reads.Shown(None, None if read.finished else read, read.error)
        context = {"shown": shown, "poll_url": wanted, "what": f"The list of {source}'s ids"}
        if shown.pending:
            shown = agent_reads.Shown.of(read)
            context["shown"] = shown
        return render(request, "vaults/remap_wait.html", context)
    if request.headers.get("HX-Request"):  # the wait page's poll: the download is ready
        return agent_reads.redirect_when_in(request, wanted)
    rows = (tuple(row) for row in read.result)
    writer = csv.writer(_Echo())
    lines = (writer.writerow([audit.csv_cell(v, exact=True) for v in r]) for r in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in source)[:60]
    response["Content-Disposition"] = f'attachment; filename="{name}-ids-to-map.csv"'
    return response


def _source_ids_read(request, db, source):
    """The read `?read=N` names (the one the wait page polled for), else a fresh one."""
    wanted = request.GET.get("read", "")
    if wanted.isdigit():
        read = AgentRead.objects.filter(
            pk=int(wanted), database=db.name, kind=remap_reads.SOURCE_IDS, key=source[:200]
        ).first()
        if read is not None:
            return read
    return remap_reads.source_id_rows(db, source)


class _Echo:
    def write(self, value):
        return value
