from django.core.management.base import CommandError

from metamorph import backup
from metamorph.backup.files import validate_name
from metamorph.errors import MetamorphError
from metamorph_admin.cli import (
    OperationCommand,
    add_db_argument,
    backup_dir_from,
    confirm_typed,
    db_path_from,
)
from metamorph_admin.command_jobs import run_from_command

EPILOG = """
A restore is a downtime operation: stop Metamorph first. While any other process has the
database (or its -journal, -wal or -shm) open, the restore refuses and names each process by
pid and command line. Nothing is changed by a refused restore.

--force restores while Metamorph runs: the safety backup and the restore then happen under one
held lock, so no commit falls between them. Everything the server committed up to the restore
is in that safety backup (its name is printed), not in the restored file; the server's later
commits go into the restored file.
"""


class Command(OperationCommand):
    runs_operations = True
    help = (
        "Restore a verified backup into the live Metamorph database (downtime: stop "
        "Metamorph first). Refuses unless the backup verifies and while another process "
        "has the file open; takes a verified safety backup of the current file under the "
        "same lock as the restore, copies through SQLite's backup API (no stale -wal "
        "replay) and checks the restored rows against the manifest."
    )

    epilog = EPILOG

    def add_arguments(self, parser):
        parser.add_argument(
            "name", nargs="?", default="", help="backup file name, as `listbackups` shows it"
        )
        parser.add_argument(
            "--archive",
            metavar="ARCHIVE",
            help="restore this archive of the backup repository instead (as `checkbackups "
            "--list` shows it): fetched, its sha256 checked against its manifest, then restored "
            "like a local backup",
        )
        parser.add_argument("--yes", action="store_true", help="skip the typed confirmation")
        parser.add_argument(
            "--force",
            action="store_true",
            help="restore although another process (Metamorph) has the file "
            "open; its writes up to the restore are kept only in the "
            "safety backup",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        add_db_argument(parser, backup_dir=True)

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        backup_dir = backup_dir_from(opts)
        if opts["archive"]:
            return self._restore_archive(db_path, backup_dir, opts)
        try:
            validate_name(opts["name"])
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
        listed = {e["name"]: e for e in backup.list_backups(backup_dir)}
        entry = listed.get(opts["name"])
        if entry is None or entry["state"] != "verified":
            why = entry["problem"] or entry["state"] if entry else "no such backup"
            raise CommandError(
                f"{opts['name']} cannot be restored ({why}): nothing was "
                "changed. `python manage.py listbackups` shows the verified ones."
            )
        # the restore itself re-checks sha256 and integrity
        if not opts["force"]:
            self._refuse_if_in_use(db_path)
        what = f"Restoring {opts['name']} (it replaces the live data"
        what += (
            "; Metamorph's writes until the restore will be only in the safety backup)"
            if opts["force"]
            else ")"
        )
        confirm_typed(db_path, what, opts["yes"])
        params = {"db_path": db_path, "name": opts["name"], "force": opts["force"]}
        if opts["dir"]:
            params["backup_dir"] = backup_dir
        self._run(params, opts, opts["name"])

    def _restore_archive(self, db_path, backup_dir, opts):
        if not opts["force"]:
            self._refuse_if_in_use(db_path)
        confirm_typed(db_path, f"Restoring archive {opts['archive']}", opts["yes"])
        params = {"db_path": db_path, "name": "", "archive": opts["archive"]}
        params.update(
            {"force": opts["force"]}, **({"backup_dir": backup_dir} if opts["dir"] else {})
        )
        self._run(params, opts, opts["archive"])

    def _run(self, params, opts, what):
        """The restore job, as the named operator; its message (or the JSON result)."""
        job = run_from_command(
            "restore",
            params,
            operator=opts["operator"],
            stdout=self.stdout,
            stderr=self.stderr,
            json_output=opts["json"],
        )
        if not opts["json"]:
            self.stdout.write(job.result.get("message") or f"Restored {what}.")

    def _refuse_if_in_use(self, db_path):
        """Before asking for the typed name: a refusal an operator can act on at once."""
        try:
            backup.refuse_if_in_use(db_path)
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
