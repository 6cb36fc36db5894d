"""`metamorph-admin COMMAND …` (the installed console command) and `manage.py`: Django's
management commands with one-line errors for bad settings and an unreachable database."""

import os
import sys


def main():
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


if __name__ == "__main__":
    main()
