"""Job summaries of the remap kinds (see metamorph_admin.job_summary).

Written against whatever keys the result has: an engine that adds per-vault counts or renames
a timing still gets a page, with the plain values listed and the rest in the raw details.
"""

from django.urls import reverse

from metamorph import remap as remap_engine
from metamorph.remap.runresult import PREVIEW_VS_ACTUAL
from metamorph.remap.split import in_words
from metamorph_admin.job_summary import (
    Finding,
    JobSummary,
    Link,
    SummaryTable,
    add_plain_values,
    add_tables,
    backup_link,
    vault_table,
)
from vaults.models import RemapPlanRecord

PER_VAULT_KEYS = ("moved_by_vault", "by_vault", "vaults", "targets")
SHOWN = {
    "plan_id",
    "mode",
    "durability",
    "moved",
    "moved_total",
    "restored",
    "restored_total",
    "skipped_changed",
    "batches",
    "longest_transaction_s",
    "elapsed_s",
    "backup",
    "audit_clean",
    "audit_findings",
    "left_in_source",
    "resumed",
    "already_completed",
    "journal",
    "ok",
    "moved_equals_preview",
    "preview_moves_total",
    "tables",
    "lock",
    "held_back_total",
    "held_back_sample",
    "arrived_after_last_batch",
    "arrived_after_last_batch_total",
    "next_command",
    "summary",
    "catch_up_passes",
    "decisions_kept",
    "check_s",
    "copied",
}


def _per_table(title, table_id, counts):
    counts = {t: n for t, n in (counts or {}).items() if isinstance(n, (int, float))}
    if not counts:
        return None
    return SummaryTable(
        table_id,
        title,
        ["table", "rows"],
        [[t, n] for t, n in sorted(counts.items(), key=lambda kv: -kv[1])],
    )


def _per_vault(result, plan_id):
    for key in PER_VAULT_KEYS:
        value = result.get(key)
        if isinstance(value, dict) and value and all(isinstance(n, int) for n in value.values()):
            return vault_table(value)
    record = RemapPlanRecord.objects.filter(plan_id=plan_id).first()
    if record is None:
        return None
    try:
        targets = remap_engine.RemapPlan.from_json(record.plan_json).preview.get("targets") or []
    except (ValueError, KeyError, TypeError):
        return None
    table = vault_table({t["vault"]: t["rows"] for t in targets if "vault" in t})
    if table is not None:
        table.title = table.title.replace("Rows per vault", "Rows per target vault (as planned)")
    return table


def _common(s, r, plan_id):
    s.fact(
        "plan",
        plan_id,
        href=reverse("vaults:remap_plan", args=[plan_id]) if plan_id else "",
        code=True,
    )
    s.fact("mode", " / ".join(str(r[k]) for k in ("mode", "durability") if r.get(k)))
    s.fact("batches", r.get("batches"))
    lock = r.get("lock") or {}
    s.fact("longest write-lock hold (s)", r.get("longest_transaction_s"))
    s.fact("p99 write-lock hold (s)", lock.get("p99_hold_s"))
    s.fact("longest commit (s)", lock.get("longest_commit_s"))
    s.fact("paused for Metamorph's writes (s)", lock.get("pauses_s"))
    s.fact("took (s)", r.get("elapsed_s"))
    if "audit_clean" in r:
        s.findings.append(
            Finding(
                bool(r["audit_clean"]),
                "Isolation audit right after: "
                + ("clean." if r["audit_clean"] else "findings below."),
            )
        )
    for f in r.get("audit_findings") or []:
        if isinstance(f, dict):
            s.findings.append(Finding(False, f.get("message") or str(f)))
    for t, n in (r.get("skipped_changed") or {}).items():
        s.findings.append(Finding(None, f"{n:,} {t} rows skipped: they changed since the preview."))
    add_plain_values(s, r, skip=SHOWN)
    if plan_id:
        s.links.append(Link("The plan", reverse("vaults:remap_plan", args=[plan_id])))
    s.links.append(Link("Vaults", reverse("vaults:dashboard")))


def remap(job):
    r = job.result or {}
    plan_id = r.get("plan_id") or (job.parameters or {}).get("plan_id", "")
    total = r.get("moved_total", sum((r.get("moved") or {}).values()))
    if r.get("already_completed"):
        headline = f"Plan {plan_id} had already completed: nothing left to move."
    else:
        headline = f"{total:,} rows moved{' (resumed run)' if r.get('resumed') else ''}."
    if r.get("preview_moves_total") is not None and not r.get("resumed"):
        headline += f" The preview counted {r['preview_moves_total']:,}."
    s = JobSummary(headline=headline)
    s.fact("rows moved", total)
    s.fact("pre-remap backup", r.get("backup"), href=backup_link(r.get("backup")), code=True)
    _common(s, r, plan_id)
    left = r.get("left_in_source") or {}
    if left:
        s.findings.append(
            Finding(
                None,
                "Still in the source vault: "
                + ", ".join(f"{t} {n:,}" for t, n in left.items())
                + ".",
            )
        )
    _held_and_arrived(s, r)
    add_tables(
        s,
        _preview_vs_actual(r.get("tables")),
        _per_table("Rows moved per table", "moved-per-table", r.get("moved")),
        _per_vault(r, plan_id),
    )
    return s


def _preview_vs_actual(tables):
    if not isinstance(tables, dict) or not tables:
        return None
    return SummaryTable(
        "preview-vs-actual",
        "Preview vs actual, per table",
        ["table"] + [label for _, label in PREVIEW_VS_ACTUAL],
        [
            [t] + [row.get(k, 0) for k, _ in PREVIEW_VS_ACTUAL]
            for t, row in tables.items()
            if isinstance(row, dict)
        ],
    )


def _held_and_arrived(s, r):
    held = r.get("held_back_total") or 0
    if held:
        s.findings.append(
            Finding(
                None,
                f"{held:,} rows held back: their decision changed since "
                "the preview (a new conflict, a changed link, a unique "
                "key taken in the target). Preview again to decide them.",
            )
        )
        for h in (r.get("held_back_sample") or [])[:10]:
            s.findings.append(
                Finding(
                    None,
                    f"{h.get('table')} {h.get('id') or h.get('rowid')}: "
                    f"{in_words(h.get('why'))} (previewed: {in_words(h.get('previewed'))}; "
                    f"now: {in_words(h.get('now'))})",
                )
            )
    arrived = r.get("arrived_after_last_batch_total") or 0
    if arrived:
        s.findings.append(
            Finding(
                None,
                f"{arrived:,} rows arrived in the source vault after the "
                f"last batch; move those the rule reaches with "
                f"`{r.get('next_command')}`.",
            )
        )


def remap_undo(job):
    r = job.result or {}
    plan_id = r.get("plan_id") or (job.parameters or {}).get("plan_id", "")
    total = r.get("restored_total", sum((r.get("restored") or {}).values()))
    s = JobSummary(headline=f"{total:,} rows restored to their previous vault.")
    s.fact("rows restored", total)
    _common(s, r, plan_id)
    add_tables(s, _per_table("Rows restored per table", "restored-per-table", r.get("restored")))
    return s
