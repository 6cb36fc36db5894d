"""`metamorph-admin COMMAND …` (the installed console command) and `manage.py`: Django's
management commands with one-line errors for bad settings and an unreachable database."""

import os
import sys

from metamorph_admin import collector, process


def main():
    collector.pause()
    process.enter(sys.argv)
    _report_ahead(sys.argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metamorph_admin.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import InterfaceError, OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A bad environment setting: one clear line, no traceback.
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)
    except (OperationalError, InterfaceError) as exc:
        # The dashboard's own database is down or refuses us: where it is and why, one line.
        from metamorph_admin.admin_db import unreachable_line

        sys.stderr.write(unreachable_line(exc) + "\n")
        sys.exit(2)
    finally:
        collector.leave()


def _report_ahead(argv):
    """`vaultreport --db PATH`: its report is read on a second core while Django starts up
    (metamorph/ahead.py); the command takes it only for the path it resolves itself."""
    if argv[1:2] != ["vaultreport"]:
        return  # and ahead's imports (ctypes, pickle) stay out of every other command's start
    from metamorph import ahead

    value = ahead.db_option(argv[2:])
    if value and value.strip():
        ahead.begin(os.path.abspath(value))


if __name__ == "__main__":
    main()
