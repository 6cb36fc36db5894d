import os

from django.core.management.base import CommandError

from metamorph.backup.create import MAX_LABEL
from metamorph.backup.manifest import operator_warnings
from metamorph_admin.cli import OperationCommand, add_db_argument, db_path_from
from metamorph_admin.command_jobs import run_from_command
from metamorph_admin.formatting import num, size
from migrations_ui.repository_cli import add_retention_arguments, repository_lines, retention_params


class Command(OperationCommand):
    runs_operations = True
    help = (
        "Take a verified online backup of the Metamorph database while it keeps running: "
        "SQLite's backup API in steps (flat memory), written to a hidden temporary name, "
        "fsynced, integrity-checked and hashed, then renamed to "
        "metamorph-backup-YYYYMMDD-HHMMSS.db with a JSON manifest (sha256, row counts per "
        "table and vault). Files are 0600, the directory 0700: backups hold OAuth tokens."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--label",
            default="",
            help=f"a note kept in the manifest (at most {MAX_LABEL} characters)",
        )
        parser.add_argument(
            "--compress",
            action="store_true",
            help="gzip the verified copy (verified again after compression)",
        )
        parser.add_argument(
            "--keep",
            "--keep-local",
            dest="keep",
            type=int,
            metavar="N",
            help="afterwards keep only the newest N verified backups (never "
            "deletes the newest, nor files this tool did not write)",
        )
        parser.add_argument(
            "--verify",
            choices=["full", "quick"],
            default="full",
            help="how the copy is checked before it is published: full = "
            "PRAGMA integrity_check (every page and index entry; ~14 s per "
            "GB here), quick = quick_check (~1 s per GB; skips the "
            "index-to-table cross-checks; a restore still runs the full "
            "check first). Either runs beside the sha256. Default: full",
        )
        parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
        add_db_argument(parser, backup_dir=True)
        add_retention_arguments(parser)

    def handle(self, *args, **opts):
        if len(opts["label"]) > MAX_LABEL:
            raise CommandError(
                f"--label takes at most {MAX_LABEL} characters (as the Backups form); "
                f"this one has {len(opts['label'])}."
            )
        if opts["keep"] is not None and opts["keep"] < 1:
            raise CommandError("--keep must be 1 or more: the newest backup is always kept.")
        params = {
            "db_path": db_path_from(opts),
            "label": opts["label"],
            "compress": opts["compress"],
            "keep": opts["keep"],
            "verify": opts["verify"],
            **retention_params(opts),
        }
        if opts["dir"]:
            params["backup_dir"] = os.path.abspath(opts["dir"])
        job = run_from_command(
            "backup",
            params,
            operator=opts["operator"],
            stdout=self.stdout,
            stderr=self.stderr,
            json_output=opts["json"],
        )
        m = job.result or {}
        for warning in operator_warnings(m):  # as the job page shows them
            self.stderr.write(f"warning: {warning}")
        if not opts["json"]:
            self.stdout.write(
                f"{m.get('name')}: {size(m.get('backup_size_bytes'))}, sha256 "
                f"{m.get('sha256')}, {num(m.get('total_rows'))} rows, verified "
                f"({m.get('verify_check', 'integrity_check')} ok)."
            )
            for name in m.get("deleted") or []:
                self.stdout.write(f"retention removed {name}")
            for line in repository_lines(m.get("repository")):
                self.stdout.write(line)
