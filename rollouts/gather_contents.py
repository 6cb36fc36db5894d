"""Gatherers that read the file itself: indexes and query plans, the isolation audit, where
the rows are (vaults, default-vault), and the remap plans run on it."""

import json
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from metamorph import remap, rollout_evidence
from metamorph.errors import NotMigrated
from metamorph_admin.models import AuditRecord
from rollouts.evidence import Outcome
from vaults import selectors as vault_selectors
from vaults.models import RemapPlanRecord

LEGACY_VAULT = rollout_evidence.LEGACY_VAULT
AUDIT_SECONDS = 20.0
# A file too big to audit within AUDIT_SECONDS uses the background read's unbounded audit.
BACKGROUND_AUDIT_MAX_AGE = timedelta(hours=1)


def index_health(t):
    found = rollout_evidence.index_evidence(t.path)
    scans = [p["table"] for p in found["plans"] if p["full_scan"] or not p["index_used"]]
    numbers = {
        **{f"indexes {k}": v for k, v in sorted(found["status_counts"].items())},
        "vault queries planned": len(found["plans"]),
        "using an index": len(found["plans"]) - len(scans),
    }
    evidence = [{"label": "Indexes page", "url": t.page("vaults:indexes")}] + [
        {"label": f"EXPLAIN {p['table']}", "text": p["plan"]} for p in found["plans"]
    ]
    problems = []
    if found["not_migrated"]:
        problems.append(f"{len(found['not_migrated'])} tables not migrated")
    if found["missing"]:
        problems.append("missing " + ", ".join(found["missing"][:5]))
    if scans:
        problems.append("no index used by " + ", ".join(scans[:5]))
    if problems:
        return Outcome("fail", "; ".join(problems) + ".", numbers, evidence)
    return Outcome(
        "pass",
        f"Every expected index present; all {len(found['plans'])} "
        "vault-scoped queries use an index.",
        numbers,
        evidence,
    )


def _background_audit(path):
    """(snapshot, audit) of the newest complete background read's isolation audit of `path`
    within BACKGROUND_AUDIT_MAX_AGE, else (None, None): it audits without a time limit."""
    snap = vault_selectors.latest_snapshot(path)
    audit = (snap.payload or {}).get("isolation") if snap and snap.finished_at else None
    if (
        not audit
        or not audit.get("complete")
        or (timezone.now() - snap.finished_at > BACKGROUND_AUDIT_MAX_AGE)
    ):
        return None, None
    return snap, audit


def isolation_audit(t):
    try:
        audit = remap.isolation_audit(t.path, seconds=AUDIT_SECONDS)
    except NotMigrated as exc:
        return Outcome("fail", str(exc))
    source = f"run now in {audit['seconds']} s"
    if audit["unfinished"]:
        snap, background = _background_audit(t.path)
        if background is None:
            return Outcome(
                "fail",
                f"The audit did not finish in {AUDIT_SECONDS:g} s "
                f"({', '.join(audit['unfinished'][:3])}). Press Recount on "
                "the Vaults page of this database: its background read "
                "audits without a time limit, then re-run.",
                {},
                [{"label": "Vaults page", "url": t.page("vaults:dashboard")}],
            )
        audit, source = background, f"the background read of {snap.finished_at:%Y-%m-%d %H:%M} UTC"
    numbers = {
        "links checked": len(audit["checked"]),
        "findings": len(audit["findings"]),
        "seconds": audit["seconds"],
        "audit": source,
    }
    evidence = [{"label": "Remap page (isolation audit)", "url": t.page("vaults:remap")}] + [
        {"label": f.get("title", f.get("check", "finding")), "text": str(f.get("count", ""))}
        for f in audit["findings"][:10]
    ]
    if not audit["clean"]:
        return Outcome("fail", f"{len(audit['findings'])} isolation finding(s).", numbers, evidence)
    return Outcome(
        "pass",
        "Isolation audit clean: every linked row is in its parent's vault, "
        "no row without a vault, every vault id within the rules.",
        numbers,
        evidence,
    )


def _distribution_numbers(found):
    return {
        "distinct vaults": found["distinct_vaults"],
        "rows": found["total_rows"],
        f"rows in {LEGACY_VAULT}": found["default_vault_rows"],
        "rows without a vault": found["blank_vault_rows"],
        **{f"vault {v}": n for v, n in found["largest_vaults"][:5]},
    }


def legacy_in_default_vault(t):
    found = rollout_evidence.vault_distribution(t.path)
    numbers = _distribution_numbers(found)
    evidence = [{"label": "Vaults page", "url": t.page("vaults:dashboard")}]
    if found["not_migrated"]:
        return Outcome(
            "fail", f"{len(found['not_migrated'])} tables have no vault_id yet.", numbers, evidence
        )
    if found["blank_vault_rows"]:
        return Outcome(
            "fail",
            f"{found['blank_vault_rows']:,} rows have no vault: Metamorph "
            "will not show them to anyone.",
            numbers,
            evidence,
        )
    return Outcome(
        "pass",
        f"{found['default_vault_rows']:,} existing rows are in "
        f"{LEGACY_VAULT}; no row without a vault.",
        numbers,
        evidence,
    )


def vault_distribution(t):
    found = rollout_evidence.vault_distribution(t.path)
    numbers = _distribution_numbers(found)
    evidence = [{"label": "Vaults page", "url": t.page("vaults:dashboard")}]
    own = [v for v, _ in found["largest_vaults"] if v != LEGACY_VAULT]
    if not own:
        return Outcome(
            "fail",
            f"Every row is in {LEGACY_VAULT}: no user has a vault of their own yet.",
            numbers,
            evidence,
        )
    return Outcome(
        "pass",
        f"{found['distinct_vaults']} vaults hold data "
        f"({found['default_vault_rows']:,} rows still in {LEGACY_VAULT}).",
        numbers,
        evidence,
    )


def _plan_rows(t):
    rows = []
    for record in RemapPlanRecord.objects.filter(db_path=t.path).order_by("created_at"):
        state = remap.plan_status(t.path, record.plan_id)
        audited = AuditRecord.objects.filter(
            action="remap",
            job__parameters__plan_id=record.plan_id,
            outcome=AuditRecord.Outcome.SUCCESS,
        ).exists()
        rows.append((record, state, audited))
    return rows


def remap_plans(t):
    rows = _plan_rows(t)
    ran = [(r, s, a) for r, s, a in rows if s["state"] != "unknown"]
    numbers = {
        "plans previewed": len(rows),
        "plans run": len(ran),
        "completed": sum(1 for _, s, _ in ran if s["state"] == "completed"),
        "rows moved": sum(s.get("moved_rows", 0) for _, s, _ in ran),
    }
    evidence = [
        {
            "label": f"plan {r.plan_id} ({s['state']})",
            "url": reverse("vaults:remap_plan", args=[r.plan_id]),
        }
        for r, s, _ in rows
    ]
    if not ran:
        return Outcome(
            "info",
            "No remap ran: existing users stay in default-vault (the remap is optional).",
            numbers,
            evidence,
        )
    unfinished = [
        r.plan_id
        for r, s, _ in ran
        if s["state"] in ("running", "interrupted", "undoing", "undo-interrupted")
    ]
    unaudited = [r.plan_id for r, s, a in ran if s["state"] == "completed" and not a]
    if unfinished:
        return Outcome(
            "fail",
            f"Plan(s) not finished: {', '.join(unfinished)}. Resume or undo them.",
            numbers,
            evidence,
        )
    if unaudited:
        return Outcome(
            "fail",
            f"Plan(s) completed without a successful audited job: "
            f"{', '.join(unaudited)} (run outside this dashboard?).",
            numbers,
            evidence,
        )
    return Outcome(
        "pass",
        f"{numbers['completed']} plan(s) completed, each with its audit record.",
        numbers,
        evidence,
    )


def _stay_reasons(t):
    """{table: {reason text: rows}} the completed plans gave for rows they left behind."""
    reasons = {}
    for record, state, _ in _plan_rows(t):
        if state["state"] != "completed":
            continue
        preview = json.loads(record.plan_json)["preview"]
        texts = preview.get("reasons", {})
        for table, why in preview.get("stays", {}).items():
            for name, n in why.items():
                text = texts.get(name, name)
                reasons.setdefault(table, {})[text] = reasons.get(table, {}).get(text, 0) + n
    return reasons


def default_vault_leftovers(t):
    found = rollout_evidence.vault_distribution(t.path)
    left = found["default_vault_by_table"]
    numbers = {f"{table} rows in {LEGACY_VAULT}": n for table, n in sorted(left.items())}
    evidence = [
        {
            "label": "Vault page",
            "url": f"{reverse('vaults:vault')}?id={LEGACY_VAULT}&database={t.name}",
        }
    ]
    if not left:
        return Outcome("pass", f"No row is left in {LEGACY_VAULT}.", numbers, evidence)
    reasons = _stay_reasons(t)
    unexplained = []
    for table, n in sorted(left.items()):
        why = reasons.get(table, {})
        for text, count in why.items():
            evidence.append({"label": f"{table}: {count:,} stayed", "text": text})
        if sum(why.values()) < n:
            unexplained.append(f"{table} ({n - sum(why.values()):,})")
    if unexplained:
        return Outcome(
            "fail",
            f"{sum(left.values()):,} rows left in {LEGACY_VAULT}; no remap "
            f"explains {', '.join(unexplained[:5])}.",
            numbers,
            evidence,
        )
    return Outcome(
        "info",
        f"{sum(left.values()):,} rows left in {LEGACY_VAULT}, each with the reason the remap gave.",
        numbers,
        evidence,
    )
