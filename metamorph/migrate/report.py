"""Plans and results as text in the console format of Metamorph's own migrator.

Metamorph prints `[Migration 001] ...`, `  [+] table: column added successfully`,
`  [-] table: table does not exist` and a Summary block; a plan uses the same lines
in the future tense, with the exact SQL under each statement that would run.
"""

from .definitions import BY_ID, DONE_TEXT, PLANNED_TEXT

_HEADERS = {
    ("001", "up"): ["[Migration 001] Adding vault_id columns for multitenancy..."],
    ("002", "up"): ["[Migration 002] Creating Vercel and Sandbox tables..."],
    ("001", "down"): [
        "[Migration 001 Rollback] Removing vault_id indexes...",
        "Note: vault_id columns will be preserved for safety.",
    ],
    ("002", "down"): ["[Migration 002 Rollback] Dropping Vercel and Sandbox tables..."],
}
_SQL_INDENT = " " * 8


def _number(plan):
    return plan.migration_id.split("_", 1)[0]


def step_progress_text(step):
    """One short line for a progress bar: what the step does (or why it is skipped)."""
    if step.skipped:
        return f"{step.target}: {step.note} (skipped)"
    verbs = {
        "column": f"adding vault_id to {step.table}",
        "index": f"creating index {step.target} on {step.table}",
        "table": f"creating table {step.target}",
        "drop-index": f"dropping index {step.target}",
        "drop-table": f"dropping table {step.target}",
    }
    return verbs[step.kind]


def _step_line(step, done, rows_lost):
    if step.skipped:
        return f"  [-] {step.target}: {step.note}"
    if step.kind == "drop-index":
        return (
            f"  [-] Dropped index: {step.target}"
            if done
            else f"  [-] {step.target}: {PLANNED_TEXT[step.kind]}"
        )
    text = (DONE_TEXT if done else PLANNED_TEXT)[step.kind]
    if step.kind == "drop-table":
        n = (rows_lost or {}).get(step.target, 0)
        text += f" ({n} rows lost)" if done else f" ({n} rows would be lost)"
    sign = "-" if step.kind.startswith("drop") else "+"
    return f"  [{sign}] {step.target}: {text}"


def _steps(plan, done, show_sql, rows_lost, kinds=None):
    lines = []
    for step in plan.steps:
        if kinds and step.kind not in kinds:
            continue
        lines.append(_step_line(step, done, rows_lost))
        if show_sql and not done and step.sql:
            lines.extend(_SQL_INDENT + part for part in step.sql.splitlines())
    return lines


def _summary(plan):
    c = plan.counts()
    lines = [f"[Migration {_number(plan)}] Summary:"]
    if "columns_added" in c:
        lines.append(f"  Columns added: {c['columns_added']} ({c['columns_skipped']} skipped)")
    if "tables_created" in c:
        lines.append(f"  Tables created: {c['tables_created']} ({c['tables_skipped']} skipped)")
    if "indexes_created" in c:
        lines.append(f"  Indexes created: {c['indexes_created']} ({c['indexes_skipped']} skipped)")
    return lines


def migration_lines(plan, done=False, show_sql=False, rows_lost=None):
    """The lines Metamorph prints for one migration (done) or its plan (not done)."""
    number = _number(plan)
    lines = list(_HEADERS.get((number, plan.direction), [f"[Migration {number}]"]))
    if plan.direction == "down":
        lines += _steps(plan, done, show_sql, rows_lost)
        return lines + _down_footer(plan, done)
    if number == "001":
        lines += ["", "[Step 1] Adding vault_id columns..."]
        lines += _steps(plan, done, show_sql, rows_lost, kinds={"column"})
        lines += ["", "[Step 2] Creating composite indexes..."]
        lines += _steps(plan, done, show_sql, rows_lost, kinds={"index"})
    else:
        lines += _steps(plan, done, show_sql, rows_lost)
        if done:
            lines.append(f"[Migration {number}] Tables created successfully")
    return lines + [""] + _summary(plan)


def _down_footer(plan, done):
    number, c = _number(plan), plan.counts()
    if number == "001":
        verb = "Removed" if done else "Would remove"
        return [
            f"[Migration 001 Rollback] {verb} {c.get('indexes_dropped', 0)} indexes",
            "To fully remove the vault_id columns, restore the backup taken before the "
            "migration (SQLite cannot drop them safely).",
        ]
    verb = (
        "Tables dropped successfully"
        if done
        else (f"Would drop {c.get('tables_dropped', 0)} tables with every row in them")
    )
    return [f"[Migration {number} Rollback] {verb}"]


def format_plan_text(plans, show_sql=True, rows_lost=None):
    """Every plan, in Metamorph's format, marked as a plan (nothing is written)."""
    if not plans:
        return "[Plan] No pending migrations: nothing to do."
    out = []
    for p in plans:
        if p.direction == "up" and p.applied:
            out += [f"[Plan] {p.migration_id} is already applied: nothing to do.", ""]
            continue
        n = len(p.to_run())
        out.append(
            f"[Plan] {p.migration_id} ({p.direction}): {n} statements in one "
            "transaction; nothing has been written yet."
        )
        if p.direction == "down":
            out.append(f"[Plan] {BY_ID[p.migration_id].down_warning}")
        out += migration_lines(p, done=False, show_sql=show_sql, rows_lost=rows_lost) + [""]
    return "\n".join(out).rstrip() + "\n"


def format_result_text(result):
    """A run or rollback, framed like Metamorph's migrator (Running / Successfully applied)."""
    out = []
    if result.direction == "up":
        pending = [m for m in result.migrations if m.status != "already applied"]
        out.append(f"[Migrator] Found {len(pending)} pending migrations")
    for m in result.migrations:
        if m.status == "already applied":
            out.append(f"[Migrator] Already applied: {m.migration_id} (at {m.applied_at})")
            continue
        verb = "Running migration" if m.direction == "up" else "Rolling back migration"
        out += [f"[Migrator] {verb}: {m.migration_id}", f"  Description: {m.description}"]
        out += migration_lines(m.plan, done=True, rows_lost=m.rows_lost)
        done = "Successfully applied" if m.direction == "up" else "Successfully rolled back"
        out += [f"[Migrator] {done}: {m.migration_id} ({m.seconds:.2f} s)", ""]
    return "\n".join(out).rstrip() + "\n"
