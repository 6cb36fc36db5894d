"""The job kinds: which engine function each runs, who may start it, whether it changes the file.

An engine function is plain Python called as `run(progress=report, **parameters)` and returns a
JSON-serializable dict (or a dataclass). Each app registers its kinds in its job_kinds.py when
it is ready, with dotted paths so that a command's start-up imports neither engines nor forms:
    register(JobKind("backup", "Backup", "migrations_ui.services.engine_calls.run_backup",
                     "metamorph_admin.run_backup", form="migrations_ui.forms.BackupForm"))
"""

import functools
from dataclasses import dataclass

from django.utils.module_loading import import_string

from metamorph.errors import MetamorphError
from metamorph_admin import job_summary


class UnknownJobKind(MetamorphError):
    def __init__(self, name):
        known = ", ".join(sorted(KINDS)) or "none"
        super().__init__(f"There is no job kind {name!r} (known kinds: {known}).")


@dataclass(frozen=True)
class JobKind:
    name: str  # stored on Job.kind and used as the audit action
    label: str  # what operators read
    run: object  # the engine callable, or its dotted path (imported when first run)
    permission: str  # "app_label.codename" needed to start it from the web
    mutating: bool = True  # True: holds the database's mutation lock while it runs
    form: str | type | None = None  # its web parameters' Django form (or its dotted path)
    group: str = ""  # the page that lists its history: "migrations", "backups", "remap"
    summary: object = None  # job -> JobSummary (or its dotted path); None: the generic one
    # Whether it writes the Metamorph file (default: as `mutating`; a backup holds the lock
    # but only reads), and what to do when it is interrupted if it does not.
    writes_database: bool | None = None
    if_interrupted: str = ""

    @property
    def changes_database(self):
        return self.mutating if self.writes_database is None else self.writes_database

    def engine(self):
        return import_string(self.run) if isinstance(self.run, str) else self.run

    def form_class(self):
        return import_string(self.form) if isinstance(self.form, str) else self.form

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


def names_in_group(group):
    """The kinds a page lists in its history, e.g. names_in_group("backups")."""
    return [name for name, kind in KINDS.items() if kind.group == group]


def label(name):
    return KINDS[name].label if name in KINDS else name


register(
    JobKind(
        "integrity-check",
        "Full integrity check",
        "metamorph_admin.integrity_job.check_integrity",
        "metamorph_admin.run_verification",
        mutating=False,
        summary=job_summary.integrity_check,
    )
)
