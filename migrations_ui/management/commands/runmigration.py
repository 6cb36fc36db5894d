import json
import os

from django.core.management.base import CommandError

from metamorph.errors import MetamorphError
from metamorph.migrate import rehearsal, runner
from metamorph.migrate.definitions import MIGRATIONS
from metamorph_admin.cli import (
    OperationCommand,
    add_db_argument,
    confirm_typed,
    db_path_from,
)
from metamorph_admin.command_jobs import run_from_command

EPILOG = """
examples:
  runmigration --list                       status of 001 and 002
  runmigration --plan                       the exact SQL that would run, nothing written
  runmigration --rehearse                   migrate a scratch copy, report timing, delete it
  runmigration --backup                     take a verified backup, then run all pending
  runmigration --migration=001_add_vault_id run one migration
  runmigration --rollback --migration=002_add_vercel_sandbox_tables
                                            drops the sandbox tables (asks first)

Each migration runs in one BEGIN IMMEDIATE transaction with its schema_migrations row, so a
killed or failed run leaves the file as it was. Pre-flight refuses (unless --force) without a
verified backup of this database newer than --max-backup-age, with too little disk or another
process holding the write lock; its quick_check of the whole file runs beside the first
migration (on the other core) and the migration commits only once it passed. The result is
verified (row counts against the backup's manifest, columns, indexes, default-vault rows,
query plans, and every index the run built read whole).
"""


class Command(OperationCommand):
    runs_operations = True
    help = (
        "Run Metamorph's multitenancy migrations (001_add_vault_id, "
        "002_add_vercel_sandbox_tables) atomically, with pre-flight checks, verification, "
        "rehearsal and rollback; the result is identical to Metamorph's own migrator."
    )

    epilog = EPILOG

    def add_arguments(self, parser):
        parser.add_argument(
            "--migration",
            metavar="ID",
            help="one migration (id or number: " + ", ".join(m.id for m in MIGRATIONS) + ")",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--list", action="store_true", help="status of each migration")
        mode.add_argument(
            "--plan",
            action="store_true",
            help="show what would run and the exact SQL, without writing",
        )
        mode.add_argument(
            "--rollback",
            action="store_true",
            help="run the down step of the latest applied (or --migration)",
        )
        mode.add_argument(
            "--rehearse",
            action="store_true",
            help="copy the live file (online backup) to a scratch file, migrate "
            "and verify it there, report timing; the live file is not written",
        )
        mode.add_argument(
            "--verify",
            action="store_true",
            help="verify the schema and row counts against the newest backup",
        )
        parser.add_argument(
            "--backup", action="store_true", help="take a verified backup first (recommended)"
        )
        parser.add_argument(
            "--backup-verify",
            choices=("quick", "full"),
            default="quick",
            help="how --backup checks its copy: quick (quick_check, default) or full "
            "(integrity_check, ~8x longer); a restore always runs the full check first",
        )
        parser.add_argument(
            "--force", action="store_true", help="run even when a pre-flight check fails"
        )
        parser.add_argument(
            "--max-backup-age",
            type=float,
            default=24,
            metavar="HOURS",
            help="newest verified backup may be this old (default 24)",
        )
        parser.add_argument(
            "--yes", action="store_true", help="skip the typed confirmation of a rollback"
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        add_db_argument(parser)

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        if opts["max_backup_age"] <= 0:
            raise CommandError("--max-backup-age must be a positive number of hours.")
        try:
            if opts["list"]:
                return self._list(db_path, opts["json"])
            if opts["plan"]:
                return self._plan(db_path, opts["migration"], opts["json"])
            if opts["migration"]:
                opts["migration"] = runner.resolve(opts["migration"]).id
            if opts["rollback"]:
                self._confirm_rollback(db_path, opts)
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
        kind, params = self._job(db_path, opts)
        job = run_from_command(
            kind,
            params,
            operator=opts["operator"],
            stdout=self.stdout,
            stderr=self.stderr,
            json_output=opts["json"],
        )
        if not opts["json"]:
            self.stdout.write(job.result.get("text", ""))

    def _job(self, db_path, opts):
        if opts["rehearse"]:
            return "rehearsal", {"db_path": db_path}
        if opts["verify"]:
            return "verification", {"db_path": db_path}
        if opts["rollback"]:
            return "rollback", {
                "db_path": db_path,
                "migration_id": opts["migration"],
                "take_backup": opts["backup"],
            }
        return "migration", {
            "db_path": db_path,
            "migration_id": opts["migration"],
            "take_backup": opts["backup"],
            "backup_verify": opts["backup_verify"],
            "force": opts["force"],
            "max_backup_age_hours": opts["max_backup_age"],
        }

    def _list(self, db_path, as_json):
        rows = runner.status(db_path)
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            note = f" ({row['checksum_note']})" if row.get("checksum_note") else ""
            state = (
                f"applied {row['applied_at']} checksum {row['checksum']}{note}"
                if row["applied"]
                else "pending"
            )
            self.stdout.write(f"{row['id']:<32} {state}")

    def _plan(self, db_path, migration_id, as_json):
        plans = runner.plan(db_path, migration_id)
        estimate = rehearsal.estimate_downtime(os.path.getsize(db_path))
        if as_json:
            self.stdout.write(
                json.dumps({"plans": [p.to_dict() for p in plans], "downtime": estimate}, indent=2)
            )
            return
        self.stdout.write(runner.format_plan_text(plans))
        self.stdout.write("\n" + estimate["sentence"])

    def _confirm_rollback(self, db_path, opts):
        preview = runner.rollback_preview(db_path, opts["migration"])
        self.stderr.write(preview["text"])
        self.stderr.write(preview["warning"])
        confirm_typed(db_path, f"Rolling back {preview['migration_id']}", opts["yes"])
