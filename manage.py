#!/usr/bin/env python
"""Django's command-line utility for metamorph-admin."""

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
