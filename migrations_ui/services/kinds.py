"""The job kinds: which engine function each runs, who may start it, whether it changes the file.

An engine function is plain Python called as `run(progress=report, **parameters)` and returns a
JSON-serializable dict (or a dataclass). To add a kind, register it with one line below, e.g.
    register(JobKind("backup", "Backup", "migrations_ui.engine.backup.run_backup",
                     "migrations_ui.run_backup", form=BackupForm))
"""
import functools
from dataclasses import dataclass

from django.utils.module_loading import import_string

from metamorph_admin import job_summary

from vaults.metamorph import inspect
from vaults.metamorph.connection import open_readonly
from vaults.metamorph.errors import MetamorphError


class UnknownJobKind(MetamorphError):
    def __init__(self, name):
        known = ", ".join(sorted(KINDS)) or "none"
        super().__init__(f"There is no job kind {name!r} (known kinds: {known}).")


@dataclass(frozen=True)
class JobKind:
    name: str            # stored on Job.kind and used as the audit action
    label: str           # what operators read
    run: object          # the engine callable, or its dotted path (imported when first run)
    permission: str      # "app_label.codename" needed to start it from the web
    mutating: bool = True  # True: holds the database's mutation lock while it runs
    form: type | None = None  # Django form for its web parameters; None: no web parameters
    summary: object = None  # job -> JobSummary (or its dotted path); None: the generic one

    def engine(self):
        return import_string(self.run) if isinstance(self.run, str) else self.run

    def summarize(self, job):
        """What the finished job did, in words (metamorph_admin.job_summary)."""
        if self.summary is None:
            return job_summary.generic(job)
        build = import_string(self.summary) if isinstance(self.summary, str) else self.summary
        return build(job)

    def bind(self, parameters):
        """The zero-argument-but-progress callable run_job calls: engine with these parameters."""
        return functools.partial(self.engine(), **parameters)


KINDS: dict[str, JobKind] = {}


def register(kind):
    KINDS[kind.name] = kind
    return kind


def unregister(name):
    KINDS.pop(name, None)


def get(name):
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownJobKind(name) from None


def label(name):
    return KINDS[name].label if name in KINDS else name


def check_integrity(db_path, progress):
    """Full `PRAGMA integrity_check` of the Metamorph file, read-only."""
    progress("integrity_check", 0, 1, f"reading all of {db_path}")
    conn = open_readonly(db_path, require_metamorph=False)
    try:
        outcome = inspect.integrity(conn, full=True)
    finally:
        conn.close()
    progress("integrity_check", 1, 1, "ok" if outcome["ok"] else "problems found")
    return outcome


register(JobKind("integrity-check", "Full integrity check", check_integrity,
                 "migrations_ui.run_verification", mutating=False,
                 summary="migrations_ui.summaries.integrity_check"))


def _remap_forms():
    from vaults import forms
    return forms


def _register_operations():
    from migrations_ui import operation_forms as f
    ops = "migrations_ui.services.operations."
    said = "migrations_ui.summaries."
    for kind in (
        JobKind("migration", "Migration", ops + "migrate", "migrations_ui.run_migration",
                form=f.MigrationForm, summary=said + "migration"),
        JobKind("rehearsal", "Rehearsal on a scratch copy", ops + "rehearse",
                "migrations_ui.run_rehearsal", mutating=False, summary=said + "rehearsal"),
        JobKind("rollback", "Migration rollback", ops + "rollback",
                "migrations_ui.rollback_migration", form=f.RollbackForm,
                summary=said + "rollback"),
        JobKind("verification", "Migration verification", ops + "verify",
                "migrations_ui.run_verification", mutating=False,
                summary=said + "verification"),
        JobKind("backup", "Backup", ops + "run_backup", "migrations_ui.run_backup",
                form=f.BackupForm, summary=said + "backup"),
        JobKind("verify-backup", "Backup re-verification", ops + "verify_backup",
                "migrations_ui.verify_backup", mutating=False, form=f.BackupNameForm,
                summary=said + "verify_backup"),
        JobKind("restore", "Restore from backup", ops + "restore_backup",
                "migrations_ui.restore_backup", form=f.RestoreForm,
                summary=said + "restore"),
        JobKind("remap", "Legacy remap", "vaults.services.remap.execute",
                "migrations_ui.run_remap", form=_remap_forms().ExecuteForm,
                summary="vaults.summaries.remap"),
        JobKind("remap-undo", "Undo of a remap", "vaults.services.remap.undo",
                "migrations_ui.run_remap", form=_remap_forms().UndoForm,
                summary="vaults.summaries.remap_undo"),
    ):
        register(kind)


_register_operations()
