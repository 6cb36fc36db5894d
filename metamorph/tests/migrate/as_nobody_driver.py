"""Test-only driver: run the migrations as the unprivileged user `nobody`, print the outcome.

Tests run as root, whom file permissions do not stop; dropping to `nobody` (after every
import, since /root is closed to it) makes a read-only file really read-only.

    as_nobody_driver.py DB checked   -> our pre-check (os.access) answers
    as_nobody_driver.py DB sqlite    -> pre-check skipped: SQLite's own error is translated
"""

import json
import os
import sys

from metamorph import connection
from metamorph.migrate import runner

NOBODY = 65534


def main():
    db, mode = sys.argv[1], sys.argv[2]
    if mode == "sqlite":
        connection.writable_problem = lambda path: ""
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    try:
        runner.run_migrations(db)
        print(json.dumps({"error": None}))
    except Exception as exc:  # the test asserts on the class and the operator's message
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))


if __name__ == "__main__":
    main()
