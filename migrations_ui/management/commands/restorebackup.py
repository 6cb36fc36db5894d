import os

from django.conf import settings
from django.core.management.base import CommandError

from metamorph import backup
from metamorph.backup.files import validate_name
from metamorph_admin.cli import OperationCommand, add_db_argument, confirm_typed, db_path_from, run_from_command
from metamorph.errors import MetamorphError


class Command(OperationCommand):
    help = ("Restore a verified backup into the live Metamorph database: refuses unless the "
            "backup verifies, refuses while another process holds the database, takes a safety "
            "backup of the current file first, copies through SQLite's backup API (no stale "
            "-wal replay) and checks the restored row counts against the manifest.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="backup file name, as `listbackups` shows it")
        parser.add_argument("--yes", action="store_true", help="skip the typed confirmation")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        add_db_argument(parser)
        parser.add_argument("--dir", help="backup directory (default METAMORPH_BACKUP_DIR)")

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        backup_dir = os.path.abspath(opts["dir"] or settings.METAMORPH_BACKUP_DIR)
        try:
            validate_name(opts["name"])
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
        listed = {e["name"]: e for e in backup.list_backups(backup_dir)}
        entry = listed.get(opts["name"])
        if entry is None or entry["state"] != "verified":
            why = entry["problem"] or entry["state"] if entry else "no such backup"
            raise CommandError(f"{opts['name']} cannot be restored ({why}): nothing was "
                               "changed. `python manage.py listbackups` shows the verified ones.")
        # the restore itself re-checks sha256 and integrity
        confirm_typed(db_path, f"Restoring {opts['name']} (it replaces the live data)",
                      opts["yes"])
        params = {"db_path": db_path, "name": opts["name"]}
        if opts["dir"]:
            params["backup_dir"] = backup_dir
        job = run_from_command("restore", params, stdout=self.stdout, stderr=self.stderr,
                               json_output=opts["json"])
        if not opts["json"]:
            self.stdout.write(job.result.get("message") or f"Restored {opts['name']}.")
