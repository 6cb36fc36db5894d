"""Migrations and Backups pages: status read from the engines, actions through job forms."""

from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from metamorph.errors import MetamorphError
from metamorph.migrate import rehearsal
from metamorph_admin import agents, backup_mirror, kinds, repository_index, selectors
from metamorph_admin.databases import current_database
from metamorph_admin.models import Job
from metamorph_admin.view_helpers import metamorph_page
from migrations_ui import forms

HISTORY = 20


def _active_job(db_path):
    """A job changing this file right now: while it runs, the pages offer no other change."""
    return selectors.active_job(db_path, [k.name for k in kinds.KINDS.values() if k.mutating])


def _last_rehearsal_seconds(db_path):
    job = selectors.jobs().for_file(db_path).of_kinds(["rehearsal"]).succeeded().first()
    # The figure the rehearsal's own estimate used (migrate + verify), so this page and the
    # job's page say the same time.
    return ((job.result or {}).get("downtime") or {}).get("measured_seconds") if job else None


@require_GET
@metamorph_page
def migrations(request):
    db = current_database(request)
    db_path = db.path
    live = agents.live_facts(db)
    if live.problem:
        raise FileProblem(live.problem)
    state = (live.facts or {}).get("migrations")
    if state is None:
        raise FileProblem(_no_heartbeat(db))
    if state.get("problem"):
        raise FileProblem(state["problem"])
    preview = state["rollback_preview"]
    return render(
        request,
        "migrations_ui/migrations.html",
        {
            "status": state["status"],
            "plan_text": state["plan_text"],
            "pending": state["pending"],
            "live": live,
            "estimate": rehearsal.estimate_downtime(
                live.facts["size_bytes"], _last_rehearsal_seconds(db_path)
            ),
            "rollback_preview": preview,
            "db_name": forms.database_name(),
            "active_job": _active_job(db_path),
            "run_form": forms.MigrationForm(initial={"take_backup": True}),
            "rollback_form": forms.RollbackForm(
                auto_id="rollback_%s",
                initial={
                    "migration_id": preview["migration_id"] if preview else None,
                    "take_backup": True,
                },
            ),
            "history": selectors.jobs()
            .for_file(db_path)
            .of_kinds(kinds.names_in_group("migrations"))[:HISTORY],
            "applied_by": _applied_by(db_path),
        },
    )


class FileProblem(MetamorphError):
    """What the database's agent says about its file, or that no agent has read it yet."""


def _no_heartbeat(db):
    if reason := agents.offline_reason(db):
        return reason
    return (
        f"The agent of database {db.name} has not reported the file yet: reload in a few seconds."
    )


def _applied_by(db_path):
    """{migration id: the newest job of ours that applied it}; a migration applied by
    Metamorph itself or before this dashboard has none."""
    found = {}
    for job in selectors.jobs().for_file(db_path).of_kinds(["migration"]).succeeded()[:HISTORY]:
        for m in ((job.result or {}).get("run") or {}).get("migrations") or []:
            if m.get("status") == "applied":
                found.setdefault(m.get("migration_id"), job)
    return found


@require_GET
@metamorph_page
def backups(request):
    db = current_database(request)
    backup_dir = db.backup_dir
    entries = backup_mirror.entries(db)
    return render(
        request,
        "migrations_ui/backups.html",
        {
            "backups": entries,
            "made_by": _made_by([e["name"] for e in entries[:HISTORY]]),
            "backup_dir": backup_dir,
            "db_name": forms.database_name(),
            "holders": _holders(db),
            "listed_at": backup_mirror.mirrored_at(db),
            "restore_force_label": forms.RestoreForm.base_fields["force"].label,
            "active_job": _active_job(db.path),
            "backup_form": forms.BackupForm(),
            "repository": repository_index.page_state(db.name),
            "history": selectors.jobs()
            .for_file(db.path)
            .of_kinds(kinds.names_in_group("backups"))[:HISTORY],
        },
    )


def _holders(db):
    """The processes holding the file, as its agent's newest heartbeat saw them."""
    return (agents.live_facts(db).facts or {}).get("holders") or []


def _made_by(names):
    """{backup name: the job that wrote it} for backups taken by jobs (backup, migration,
    remap); a backup taken outside a job has none."""
    found = {}
    for name in names:
        job = (
            Job.objects.filter(
                Q(kind="backup", result__name=name)
                | Q(kind="migration", result__backup__name=name)
                | Q(kind="remap", result__backup=name)
            )
            .order_by("id")
            .first()
        )
        if job is not None:
            found[name] = job
    return found


@require_GET
@metamorph_page
def backup_detail(request, name):
    """One backup: its state, manifest facts, rows per table, the job that made it and the
    jobs that used it; a name that is not (or no longer) in the directory is a 404."""
    db = current_database(request)
    backup_dir = db.backup_dir
    entry = next((e for e in backup_mirror.entries(db) if e["name"] == name), None)
    if entry is None:
        raise Http404(f"There is no backup {name!r} in {backup_dir}.")
    return render(
        request,
        "migrations_ui/backup.html",
        {
            "b": entry,
            "made_by": _made_by([name]).get(name),
            "db_name": forms.database_name(),
            "holders": _holders(db),
            "restore_force_label": forms.RestoreForm.base_fields["force"].label,
            "used_by": Job.objects.filter(
                kind__in=["verify-backup", "restore"], parameters__name=name
            ).order_by("-id")[:HISTORY],
        },
    )
