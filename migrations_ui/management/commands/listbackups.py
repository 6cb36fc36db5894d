import json

from metamorph import backup
from metamorph_admin.cli import OperationCommand, add_db_argument, backup_dir_from


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
        entries = backup.list_backups(backup_dir_from(opts))
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
                f"{e['size_bytes']:>12} bytes "
                f"{age_h:7.1f} h old  rows {e['total_rows'] or '-':>9}  "
                f"{e['label'] or ''}"
            )
            if e.get("problem"):
                self.stdout.write(f"    {e['problem']}")
