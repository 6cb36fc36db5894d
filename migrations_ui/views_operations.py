"""Migrations and Backups pages: status read from the engines, actions through job forms."""
import os

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from migrations_ui import operation_forms as forms
from metamorph_admin import selectors
from metamorph import backup
from metamorph.holders import processes_holding
from metamorph.migrate import rehearsal, runner
from metamorph_admin.view_helpers import metamorph_page

HISTORY = 20


def _last_rehearsal_seconds():
    job = selectors.jobs(kind="rehearsal", state="succeeded").first()
    return (job.result or {}).get("migrate_seconds") if job else None


@require_GET
@metamorph_page
def migrations(request):
    db_path = settings.METAMORPH_DATABASE_PATH
    status = runner.status(db_path)
    plans = runner.plan(db_path)
    applied = [row["id"] for row in status if row["applied"]]
    preview = runner.rollback_preview(db_path) if applied else None
    return render(request, "migrations_ui/migrations.html", {
        "status": status, "plan_text": runner.format_plan_text(plans),
        "pending": [p for p in plans if p.to_run()],
        "estimate": rehearsal.estimate_downtime(os.path.getsize(db_path),
                                                _last_rehearsal_seconds()),
        "rollback_preview": preview, "db_name": forms.database_name(),
        "run_form": forms.MigrationForm(initial={"take_backup": True}),
        "rollback_form": forms.RollbackForm(initial={
            "migration_id": preview["migration_id"] if preview else None, "take_backup": True}),
        "history": selectors.jobs().filter(
            db_path=db_path,
            kind__in=["migration", "rehearsal", "rollback", "verification"])[:HISTORY],
    })


@require_GET
@metamorph_page
def backups(request):
    backup_dir = settings.METAMORPH_BACKUP_DIR
    entries = backup.list_backups(backup_dir) if os.path.isdir(backup_dir) else []
    return render(request, "migrations_ui/backups.html", {
        "backups": entries, "backup_dir": backup_dir, "db_name": forms.database_name(),
        "holders": processes_holding(settings.METAMORPH_DATABASE_PATH).processes,
        "restore_force_label": forms.RestoreForm.base_fields["force"].label,
        "backup_form": forms.BackupForm(), "history": selectors.jobs().filter(
            db_path=settings.METAMORPH_DATABASE_PATH,
            kind__in=["backup", "verify-backup", "restore"])[:HISTORY],
    })
