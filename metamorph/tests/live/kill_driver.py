"""Test-only: run an operation in this process and SIGKILL it at its Nth progress report.

    kill_driver.py backup DB DIR PHASE N
    kill_driver.py restore DB DIR NAME PHASE N      (forced: Metamorph is running)
    kill_driver.py migrate DB PHASE N               (PHASE: a migration id; MM_CACHE_PAGES=n
                                                     makes SQLite spill into the file early)
Step sizes are small (16 pages) so a kill lands in the middle of the work.
"""

import os
import signal
import sys

from metamorph import backup
from metamorph.backup import copy as backup_copy
from metamorph.backup import file_copy
from metamorph.migrate import runner


def killer(phase, n):
    seen = [0]

    def progress(p, done, total, message=""):
        print(p, done, total, message, flush=True)
        if p == phase:
            seen[0] += 1
            if seen[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)

    return progress


def small_cache_writable():
    real_open = runner.open_writable

    def open_with_small_cache(*args, **kwargs):
        conn = real_open(*args, **kwargs)
        if os.environ.get("MM_CACHE_PAGES"):
            conn.execute(f"PRAGMA cache_size = {int(os.environ['MM_CACHE_PAGES'])}")
        return conn

    runner.open_writable = open_with_small_cache


def main():
    command, *args = sys.argv[1:]
    backup_copy.COPY_STEP_PAGES = 16
    file_copy.FIRST_CHUNK = 16 * 4096  # the kernel copy's chunks too
    if command == "backup":
        db, directory, phase, n = args
        backup.run_backup(db, directory, progress=killer(phase, int(n)))
    elif command == "restore":
        db, directory, name, phase, n = args
        backup.restore_backup(db, directory, name, force=True, progress=killer(phase, int(n)))
    elif command == "migrate":
        db, phase, n = args
        small_cache_writable()
        runner.run_migrations(db, progress=killer(phase, int(n)))
    print("completed", flush=True)


if __name__ == "__main__":
    main()
