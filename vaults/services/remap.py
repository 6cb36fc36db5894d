"""Remap plans: preview (stored), execute and undo as jobs, the isolation audit.

The engine (metamorph.remap) does the work; this module keeps the previewed plan in
the dashboard's database so the page, the command and the job all run the same plan.
"""

import os

from metamorph import backup, remap
from metamorph.errors import MetamorphError
from metamorph.remap.runresult import PREVIEW_VS_ACTUAL
from metamorph_admin import databases
from vaults.models import RemapPlanRecord


class StoredPlanNotFound(MetamorphError):
    def __init__(self, plan_id):
        super().__init__(
            f"There is no stored remap plan {plan_id!r}. Preview one on the Remap "
            "page, or with `python manage.py remapvaults --move/--owner/--mapping`."
        )


def preview(db_path, rule, actor):
    """Compute the plan read-only, store it, return the record."""
    plan = remap.build_plan(db_path, rule)
    return RemapPlanRecord.objects.create(
        plan_id=plan.plan_id,
        db_path=plan.db_path,
        created_by=actor[:150],
        kind=rule.kind,
        description=plan.preview["rule"][:500],
        moves_total=plan.moves_total,
        plan_json=plan.to_json(),
    )


def load(plan_id):
    record = RemapPlanRecord.objects.filter(plan_id=plan_id).first()
    if record is None:
        raise StoredPlanNotFound(plan_id)
    return record, remap.RemapPlan.from_json(record.plan_json)


def _same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def execute(
    db_path, progress, plan_id, mode="online", take_backup=False, fast=False, backup_dir=None
):
    """Job engine: optional backup, run the stored plan (resuming it), audit afterwards."""
    record, plan = load(plan_id)
    if not _same_file(plan.db_path, db_path):
        raise MetamorphError(
            f"Plan {plan_id} was previewed on {plan.db_path}, not on {db_path}."
            " Preview again on this database."
        )
    taken = None
    if take_backup:
        taken = backup.run_backup(
            db_path,
            backup_dir or databases.for_path(db_path).backup_dir,
            label=f"pre-remap {plan_id}",
            progress=progress,
        )["name"]
    if fast and not taken:
        raise MetamorphError(
            "Faster commits (synchronous=OFF) are only offered right after a "
            "verified backup: add the backup, or run without them."
        )
    result = remap.execute_plan(
        db_path, plan, progress=progress, mode=mode, durability="fast" if fast else "full"
    )
    audited = _with_audit(db_path, result, progress)
    return dict(audited, backup=taken, summary=summary_text(result), ok=audited["audit_clean"])


def summary_text(result):
    """The job's preview-vs-actual table, as plain text for the job page and the terminal."""
    # Each column as wide as its heading (at least 10), two spaces apart: never run together.
    widths = [max(10, len(label)) for _, label in PREVIEW_VS_ACTUAL]
    head = f"{'table':<24}" + "".join(
        f"  {label:>{w}}" for (_, label), w in zip(PREVIEW_VS_ACTUAL, widths, strict=True)
    )
    lines = [head]
    for table, row in result["tables"].items():
        lines.append(
            f"{table:<24}"
            + "".join(
                f"  {row[key]:>{w},}" for (key, _), w in zip(PREVIEW_VS_ACTUAL, widths, strict=True)
            )
        )
    lock = result["lock"]
    lines.append(
        f"longest write-lock hold {lock['longest_hold_s']:.3f} s (p99 "
        f"{lock['p99_hold_s']:.3f} s) over {lock['transactions']} transactions; "
        f"longest wait for the lock {lock['longest_wait_for_lock_s']:.3f} s"
    )
    if result["held_back_total"]:
        lines.append(
            f"{result['held_back_total']:,} rows held back: their decision changed "
            "since the preview (see held_back_sample); preview again to decide them."
        )
    if result["arrived_after_last_batch_total"]:
        lines.append(
            f"{result['arrived_after_last_batch_total']:,} rows arrived in "
            "the source vault after the last batch; move "
            f"those the rule reaches with: {result['next_command']}"
        )
    return "\n".join(lines)


def undo(db_path, progress, plan_id):
    """Job engine: restore every row the plan moved to its previous vault."""
    return _with_audit(db_path, remap.undo_plan(db_path, plan_id, progress=progress), progress)


def _with_audit(db_path, result, progress):
    """The run's result plus the isolation audit taken right after it."""
    progress("audit", 0, 1, "isolation audit")
    audit = remap.isolation_audit(db_path)
    progress("audit", 1, 1, "clean" if audit["clean"] else "findings")
    return dict(result, audit_clean=audit["clean"], audit_findings=audit["findings"][:20])
