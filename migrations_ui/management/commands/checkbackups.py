from django.core.management.base import CommandError

from metamorph.units import human_size
from metamorph_admin import repository_index
from metamorph_admin.cli import OperationCommand, add_db_argument, db_path_from
from metamorph_admin.command_jobs import run_from_command
from metamorph_admin.databases import for_path
from migrations_ui.services import offsite

EPILOG = """
examples:
  checkbackups                 borg check, then restore the newest archive of each database
  checkbackups --list          the archives of this database, from the last stored index

Run it on a schedule (docs/backups-offsite.md): the Backups page, /metrics and the backup-age
alarm count an archive as restorable only once a check restored it. Exit 1 when anything
failed, with one line per problem.
"""


class Command(OperationCommand):
    help = (
        "Check the off-host backup repository: borg's own check (a slice of the segments per "
        "run, resumed next time, and every archive's index), then restore the newest archive "
        "of each database to a temporary file and compare its sha256 with the manifest and "
        "run quick_check."
    )
    epilog = EPILOG
    runs_operations = True

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="list the stored archives")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        add_db_argument(parser)

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        if not repository_index.configured():
            raise CommandError(offsite.NOT_CONFIGURED)
        if opts["list"]:
            return self._list(for_path(db_path).name)
        job = run_from_command(
            "check-backups",
            {"db_path": db_path},
            operator=opts["operator"],
            stdout=self.stdout,
            stderr=self.stderr,
            json_output=opts["json"],
        )
        result = job.result
        if not opts["json"]:
            self.stdout.write(result["repository_message"])
            for r in result["archives"]:
                verdict = "restorable" if r["restorable"] else "NOT restorable"
                self.stdout.write(f"{r['snapshot']['archive']}: {verdict}: {r['message']}")
        if not result["ok"]:
            raise CommandError(f"The repository check found problems (job #{job.pk}).")

    def _list(self, database):
        rows = repository_index.archives_of(database)
        if not rows:
            self.stdout.write(f"No archive of {database} in the stored index (run backupdb).")
        for a in rows:
            added = human_size(a.added_bytes) if a.added_bytes is not None else "?"
            check = a.check_state or "not checked"
            drop = ", dropped by the next retention run" if a.dropped_next else ""
            self.stdout.write(
                f"{a.archive}  {a.created_at:%Y-%m-%d %H:%M} UTC  added {added}  {check}{drop}"
            )
