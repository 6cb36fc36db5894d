"""What this process is, decided at its entry point before Django sets up: an operation
command, or anything else (the site, an agent, Django's own commands, the tests).

An operation command (`vaultreport`, `backupdb`, `runmigration`, …) reads or changes a Metamorph
file in its own process, as the dashboard user it names, and writes its job and audit rows to
the dashboard's database. It needs none of the site's apps (the admin, sessions, messages,
static files, htmx) nor the tasks queue's models, and importing them was ~30 ms of each such
command's start here (2026-12-07, 2-core VM): django-tasks-db's package patches Django's
generic classes at import, which imports the admin, sitemaps and syndication with it.
settings.py leaves those apps out of such a process and gives it a task backend that refuses
to queue (metamorph_admin/task_backends.py): its work runs here, never through a queue."""

# The commands whose process loads none of the apps settings.py marks site-only. Each is an
# OperationCommand that runs its work in its own process; never `agent`, which takes jobs from
# the queue.
OPERATION_COMMANDS = frozenset(
    {
        "backupdb",
        "checkbackups",
        "listbackups",
        "makedemodb",
        "remapvaults",
        "restorebackup",
        "rollbackinterrupted",
        "runmigration",
        "vaultreport",
    }
)

_operation_command = False


def enter(argv: list[str]) -> None:
    """At the entry point's first line, with the command line it was given."""
    global _operation_command
    _operation_command = len(argv) > 1 and argv[1] in OPERATION_COMMANDS


def is_operation_command() -> bool:
    """True in a process that `enter` found running an operation command (read by settings)."""
    return _operation_command
