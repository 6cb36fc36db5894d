from django.core.management.base import CommandError

from metamorph.backup import hot_journal
from metamorph.errors import NoInterruptedWrite
from metamorph_admin.cli import (
    OperationCommand,
    add_db_argument,
    backup_dir_from,
    confirm_typed,
    db_path_from,
)
from metamorph_admin.command_jobs import run_from_command

EPILOG = """
A process killed in the middle of a write leaves a "hot" -journal beside the database: the
undo log of that write. Until a writer rolls it back, no read-only connection may read the
file, so the pages, backupdb and runmigration refuse. This command first copies the file and
its -journal together into the backup directory (interrupted-write-YYYYMMDD-HHMMSS-PID/, with
a manifest of their sha256), then opens the file for writing, which makes SQLite roll the
interrupted write back: the file returns to what it held before that write began.
"""


class Command(OperationCommand):
    runs_operations = True
    help = (
        "Roll back a write a killed process left half done (a hot -journal): keep a copy of "
        "the file with its -journal in the backup directory, then let SQLite roll it back."
    )

    epilog = EPILOG

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="skip the typed confirmation")
        add_db_argument(parser, backup_dir=True)

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        if not hot_journal.has_interrupted_write(db_path):
            raise CommandError(str(NoInterruptedWrite(db_path)))
        backup_dir = backup_dir_from(opts)
        confirm_typed(
            db_path,
            f"Copying the file and its -journal into {backup_dir}, then rolling back the "
            "interrupted write",
            opts["yes"],
        )
        params = {"db_path": db_path}
        if opts["dir"]:
            params["backup_dir"] = backup_dir
        job = run_from_command(
            "interrupted-write-rollback", params, operator=opts["operator"], stdout=self.stdout
        )
        self.stdout.write(job.result["text"])
