"""Rollout pages: thin wrappers around rollouts.services; every POST is permission-checked
and audited, refusals included."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from metamorph_admin import audit, databases
from metamorph_admin.models import AuditRecord, Origin
from metamorph_admin.permissions import require_perm
from rollouts import agent_checks, exports, forms, report, selectors, services
from rollouts.definitions import ITEM, PHASE
from rollouts.models import Rollout

RUN = "metamorph_admin.run_verification"  # operator: create rollouts, run checks, attest
SIGN = "metamorph_admin.signoff_rollout"  # admin: sign and re-open phases
Outcome = AuditRecord.Outcome


def _audit(request, action, rollout_name, outcome, message="", **parameters):
    audit.record_request(
        request,
        f"rollout-{action}",
        target=rollout_name,
        outcome=outcome,
        message=message,
        parameters=parameters,
    )


def _refused(request, action, rollout, exc, **parameters):
    """A refused rollout action: audited, told to the reviewer, back to the rollout."""
    _audit(request, action, rollout.name, Outcome.REFUSED, str(exc), **parameters)
    messages.error(request, str(exc))
    return redirect("rollouts:detail", pk=rollout.pk)


def _list(request, form, status=200):
    return render(
        request,
        "rollouts/list.html",
        {
            "rollouts": [(r, selectors.current_phase_label(r)) for r in Rollout.objects.all()],
            "form": form,
            "several": databases.several(),
            "may_run": request.user.has_perm(RUN),
        },
        status=status,
    )


@require_GET
def rollout_list(request):
    return _list(request, forms.RolloutForm())


@require_POST
def rollout_create(request):
    require_perm(request, RUN, action="rollout-create")
    form = forms.RolloutForm(request.POST)
    if not form.is_valid():
        return _list(request, form, 400)
    data = form.cleaned_data
    try:
        rollout = services.create_rollout(
            name=data["name"],
            staging=databases.get(data["staging"]),
            production=databases.get(data["production"]),
            actor=request.user.get_username(),
            staging_url=data["staging_url"],
            production_url=data["production_url"],
            backup_max_age_hours=data["backup_max_age_hours"],
            planned_downtime_minutes=data["planned_downtime_minutes"],
        )
    except services.RolloutRefused as exc:
        form.add_error(None, str(exc))
        return _list(request, form, 400)
    _audit(
        request,
        "create",
        rollout.name,
        Outcome.SUCCESS,
        staging=rollout.staging_name,
        production=rollout.production_name,
    )
    return redirect("rollouts:detail", pk=rollout.pk)


def _settings_form(rollout):
    return forms.SettingsForm(
        initial={**{k: getattr(rollout, k) for k in services.SETTINGS}, "version": rollout.version}
    )


def _detail(
    request, rollout, status=200, conflict=None, settings_form=None, settings_conflict=None
):
    views = selectors.phase_views(rollout)
    runs = agent_checks.newest_runs(rollout)
    return render(
        request,
        "rollouts/detail.html",
        {
            "rollout": rollout,
            "phases": views,
            "glance": selectors.glance(views),
            "databases": selectors.database_states(rollout),
            "timeline": selectors.timeline(rollout),
            "conflict": conflict,
            "may_run": request.user.has_perm(RUN),
            "may_sign": request.user.has_perm(SIGN),
            "tokens_form": forms.TokensForm(),
            "reopen_form": forms.ReopenForm(),
            "me": request.user.get_username(),
            "settings_form": settings_form or _settings_form(rollout),
            "settings_conflict": settings_conflict,
            "runs": runs,
            "checking": agent_checks.under_way(rollout),
            "sign_errors": agent_checks.sign_refusals(rollout),
        },
        status=status,
    )


@require_GET
def rollout_detail(request, pk):
    rollout = get_object_or_404(Rollout, pk=pk)
    if request.GET.get("agents") and request.headers.get("HX-Request"):
        # The poll of a page whose checks are with the agents: reload it once they are in.
        if agent_checks.under_way(rollout):
            return render(request, "rollouts/partials/with_agents.html", {"checking": True})
        return HttpResponse(headers={"HX-Refresh": "true"})
    return _detail(request, rollout)


def _item(key):
    if key not in ITEM:
        raise Http404(f"No rollout item {key!r}.")
    return ITEM[key]


@require_POST
def edit_settings(request, pk):
    rollout = get_object_or_404(Rollout, pk=pk)
    require_perm(request, RUN, action="rollout-edit")
    form = forms.SettingsForm(request.POST)
    if not form.is_valid():
        return _detail(request, rollout, status=400, settings_form=form)
    data = dict(form.cleaned_data)
    version = data.pop("version")
    try:
        rollout = services.edit_settings(
            rollout, actor=request.user.get_username(), version=version, **data
        )
    except services.SettingsConflict as exc:
        _audit(request, "edit", rollout.name, Outcome.REFUSED, str(exc))
        mine = forms.SettingsForm(initial={**data, "version": exc.rollout.version})
        return _detail(
            request, exc.rollout, status=409, settings_form=mine, settings_conflict=exc.rollout
        )
    _audit(request, "edit", rollout.name, Outcome.SUCCESS, **data)
    messages.success(request, "Settings saved.")
    return redirect("rollouts:detail", pk=pk)


@sensitive_post_parameters("token_a", "token_b")
@require_POST
def run_check(request, pk, key):
    rollout = get_object_or_404(Rollout, pk=pk)
    definition = _item(key)
    require_perm(request, RUN, action="rollout-check")
    tokens = ()
    if definition.check == "live_isolation":
        tokens_form = forms.TokensForm(request.POST)
        if not tokens_form.is_valid():
            messages.error(
                request, " ".join(e for errs in tokens_form.errors.values() for e in errs)
            )
            return redirect("rollouts:detail", pk=pk)
        tokens = (
            tokens_form.cleaned_data["token_a"].strip(),
            tokens_form.cleaned_data["token_b"].strip(),
        )
    try:
        read = agent_checks.request_check(
            rollout, key, actor=audit.Actor.of_request(request), tokens=tokens
        )
    except services.RolloutRefused as exc:
        return _refused(request, "check", rollout, exc, item=key)
    if read.state == read.State.FAILED:
        messages.error(request, f"{definition.title}: {read.error}")
    elif read.state == read.State.DONE:  # its agent recorded it and audited it
        item = rollout.items.get(key=key)
        (messages.success if item.status != "fail" else messages.warning)(
            request, f"{definition.title}: {item.summary}"
        )
    else:
        messages.info(request, f"{definition.title}: {_queued(read)}")
    return redirect(f"{rollout_url(rollout)}#item-{key}")


def _queued(read):
    return (
        f"queued on the agent of database {read.database}; the item shows its evidence when "
        "the agent has gathered it."
    )


def rollout_url(rollout):
    return reverse("rollouts:detail", args=[rollout.pk])


@require_POST
def attest(request, pk, key):
    rollout = get_object_or_404(Rollout, pk=pk)
    definition = _item(key)
    require_perm(request, RUN, action="rollout-attest")
    form = forms.AttestForm(request.POST)
    if not form.is_valid():
        problem = (
            "An attestation needs a note saying what was done and where the proof is."
            if "note" in form.errors and not request.POST.get("note", "").strip()
            else " ".join(
                f"{form.fields[f].label or f}: {' '.join(e)}" for f, e in form.errors.items()
            )
        )
        messages.error(request, problem)
        _audit(request, "attest", rollout.name, Outcome.REFUSED, problem, item=key)
        return redirect("rollouts:detail", pk=pk)
    try:
        services.attest(
            rollout,
            key,
            actor=request.user.get_username(),
            note=form.cleaned_data["note"],
            version=form.cleaned_data["version"],
        )
    except services.EditConflict as exc:
        _audit(request, "attest", rollout.name, Outcome.REFUSED, str(exc), item=key)
        return _detail(
            request,
            rollout,
            status=409,
            conflict={
                "key": key,
                "mine": form.cleaned_data["note"],
                "theirs": exc.item,
                "message": str(exc),
            },
        )
    except services.RolloutRefused as exc:
        return _refused(request, "attest", rollout, exc, item=key)
    _audit(request, "attest", rollout.name, Outcome.SUCCESS, item=key)
    messages.success(request, f"{definition.title}: attested.")
    return redirect(f"{rollout_url(rollout)}#item-{key}")


def _phase(number):
    if number not in PHASE:
        raise Http404(f"No phase {number}.")
    return PHASE[number]


@require_POST
def run_phase_checks(request, pk, phase):
    rollout = get_object_or_404(Rollout, pk=pk)
    label = _phase(phase).label
    require_perm(request, RUN, action="rollout-check")
    try:
        reads = agent_checks.request_phase_checks(
            rollout, phase, actor=audit.Actor.of_request(request)
        )
    except services.RolloutRefused as exc:
        return _refused(request, "check", rollout, exc, phase=phase)
    if reads and not all(r.finished for r in reads):
        _audit(request, "check", rollout.name, Outcome.REQUESTED, phase=phase, items=len(reads))
        messages.info(request, f"{label}: {len(reads)} checks {_queued(reads[0])}")
        return redirect(f"{rollout_url(rollout)}#phase-{phase}")
    items = [rollout.items.get(key=r.parameters["key"]) for r in reads]
    failed = [ITEM[i.key].title for i in items if i.status == "fail"]
    failed += [f"{ITEM[r.parameters['key']].title} ({r.error})" for r in reads if r.error]
    _audit(
        request,
        "check",
        rollout.name,
        Outcome.FAILURE if failed else Outcome.SUCCESS,
        "; ".join(failed),
        phase=phase,
        items=len(items),
    )
    (messages.warning if failed else messages.success)(
        request,
        f"{label}: {len(items) - len(failed)} of {len(items)} checks pass"
        + (f"; failing: {', '.join(failed)}." if failed else "."),
    )
    return redirect(f"{rollout_url(rollout)}#phase-{phase}")


@require_POST
def sign(request, pk, phase):
    rollout = get_object_or_404(Rollout, pk=pk)
    label = _phase(phase).label
    require_perm(request, SIGN, action="rollout-sign")
    try:
        read = agent_checks.request_sign(rollout, phase, actor=audit.Actor.of_request(request))
    except services.RolloutRefused as exc:
        return _refused(request, "sign", rollout, exc, phase=phase)
    if read.state == read.State.FAILED:  # its agent audited the refusal
        messages.error(request, read.error)
    elif read.state == read.State.DONE:
        messages.success(request, f"{label} signed.")
    else:
        messages.info(
            request,
            f"{label}: the agent of database {read.database} re-runs its checks, then signs; "
            "this page shows the signature when it is in.",
        )
    return redirect(f"{rollout_url(rollout)}#phase-{phase}")


@require_POST
def reopen(request, pk, phase):
    rollout = get_object_or_404(Rollout, pk=pk)
    label = _phase(phase).label
    require_perm(request, SIGN, action="rollout-reopen")
    form = forms.ReopenForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.reopen(rollout, phase, actor=request.user.get_username(), reason=reason)
    except services.RolloutRefused as exc:
        return _refused(request, "reopen", rollout, exc, phase=phase)
    _audit(request, "reopen", rollout.name, Outcome.SUCCESS, reason, phase=phase)
    messages.success(request, f"{label} re-opened.")
    return redirect(f"{rollout_url(rollout)}#phase-{phase}")


@require_GET
def download_report(request, pk, fmt):
    rollout = get_object_or_404(Rollout, pk=pk)
    if fmt not in report.FORMATS:
        raise Http404(f"No report format {fmt!r}.")
    done = exports.export(rollout, fmt, user=request.user, origin=Origin.WEB)
    _audit(request, "report", rollout.name, Outcome.SUCCESS, format=fmt, sha256=done.sha256)
    response = HttpResponse(done.text, content_type=report.CONTENT_TYPES[fmt])
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in rollout.name)[:60]
    response["Content-Disposition"] = f'attachment; filename="rollout-{safe}.{fmt}"'
    return response
