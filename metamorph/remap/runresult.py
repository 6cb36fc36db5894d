"""What an execution reports: preview vs actual per table, rows held back, lock holds, and
what the server wrote into the source vault after the last batch (with the command)."""

from .. import schema
from .decisions import TableComparison

# The per_table() figures an operator compares, in order, with their column headings.
PREVIEW_VS_ACTUAL = (
    ("preview", "preview"),
    ("moved_now", "moved now"),
    ("added_since_preview", "added since preview"),
    ("held_back", "held back"),
    ("gone", "gone"),
    ("arrived_after_last_batch", "arrived after last batch"),
)


def next_command(plan_id):
    return f"python manage.py remapvaults --run {plan_id}"


def per_table(run, comparison, arrived):
    """{table: preview, moved by this run, moved in all, added since preview, held back…}."""
    preview = run.plan.preview.get("tables", {})
    counts = run.journal.counts(run.plan.plan_id)
    names = (
        set(comparison.tables)
        | set(run.moved)
        | {t for t, row in preview.items() if row.get("move")}
    )
    out = {}
    for table in sorted(names):
        c = comparison.tables.get(table) or TableComparison()
        out[table] = {
            "preview": preview.get(table, {}).get("move", 0),
            "moved_now": run.moved.get(table, 0),
            "moved_in_all": counts.get(table, {}).get("moved", 0),
            "added_since_preview": c.new_rows,
            "held_back": sum(c.held_back.values()),
            "held_back_why": dict(c.held_back),
            "gone": c.gone,
            "arrived_after_last_batch": arrived.get(table, 0),
        }
    return out


def left_in_source(conn, plan):
    left = {}
    for table in plan.preview.get("tables", {}):
        n = conn.execute(
            f"SELECT COUNT(*) FROM {schema.quote(table)} WHERE vault_id = ?", (plan.rule.source,)
        ).fetchone()[0]
        if n:
            left[table] = n
    return left


def with_ids(conn, samples):
    """The held-back samples with each row's id (the comparison knows rowids only)."""
    for sample in samples:
        row = conn.execute(
            f"SELECT id FROM {schema.quote(sample['table'])} WHERE rowid = ?", (sample["rowid"],)
        ).fetchone()
        sample["id"] = row[0] if row else None
    return samples


def run_result(run, record, comparison, stats, arrived, elapsed, check_seconds):
    plan = run.plan
    lock = stats.to_dict()
    moved_total = sum(run.moved.values())
    arrived_total = sum(arrived.values())
    return {
        "plan_id": plan.plan_id,
        "mode": run.mode,
        "durability": run.durability,
        "moved": dict(run.moved),
        "moved_total": moved_total,
        "preview_moves_total": plan.moves_total,
        "skipped_changed": dict(run.skipped),
        "batches": lock["transactions"],
        "catch_up_passes": run.passes,
        "copied": run.copied,
        "longest_transaction_s": lock["longest_hold_s"],
        "lock": lock,
        "elapsed_s": round(elapsed, 3),
        "check_s": round(check_seconds, 3),
        "resumed": bool(record) and record["state"] != "completed",
        "already_completed": bool(record) and record["state"] == "completed" and moved_total == 0,
        "tables": per_table(run, comparison, arrived),
        "held_back_total": comparison.held_back_total,
        "held_back_sample": with_ids(run.conn, comparison.samples),
        "decisions_kept": plan.decisions is not None,
        "arrived_after_last_batch": arrived,
        "arrived_after_last_batch_total": arrived_total,
        "next_command": next_command(plan.plan_id) if arrived_total else "",
        "left_in_source": left_in_source(run.conn, plan),
        "journal": {"location": run.journal.location, "path": run.journal.path},
    }
