import json
import os

from django.core.management.base import CommandError

from metamorph import backup
from metamorph_admin.cli import OperationCommand, add_db_argument, backup_dir_from
from metamorph_admin.formatting import num, size


class Command(OperationCommand):
    help = (
        "List a database's backups (METAMORPH_BACKUP_DIR[/NAME]), newest first, with size, age, label, "
        "verification state and row totals. Only files whose manifest and checksum match "
        "are shown as verified."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_db_argument(parser, backup_dir=True)

    def handle(self, *args, **opts):
        folder = backup_dir_from(opts)
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise CommandError(f"{folder} is not a folder: backups are listed from a folder.")
        if opts["dir"] and not os.path.isdir(folder):
            raise CommandError(
                f"No folder {folder} (the --dir path): check it, or leave --dir out to list the "
                "database's own backup folder."
            )
        entries = backup.list_backups(folder)
        if opts["json"]:
            self.stdout.write(json.dumps(entries, indent=2, default=str))
            return
        if not entries:
            self.stdout.write("No backups yet: `python manage.py backupdb` takes one.")
        for e in entries:
            age_h = e["age_seconds"] / 3600
            mode = f"{e['verify_mode']} check" if e.get("verify_mode") else "-"
            self.stdout.write(
                f"{e['name']:<44} {e['state']:<11} {mode:<11} "
                f"{size(e['size_bytes']):>9} "
                f"{age_h:7.1f} h old  rows {num(e['total_rows']):>9}  "
                f"{e['label'] or ''}"
            )
            if e.get("problem"):
                self.stdout.write(f"    {e['problem']}")
