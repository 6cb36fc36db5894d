"""Test-only driver: run the migrations in this process and SIGKILL it at a chosen point.

    crash_driver.py progress DB "001_add_vault_id|25|"  -> killed when that progress call comes
    crash_driver.py vm DB 400                           -> killed inside SQL after 400 ticks
    crash_driver.py count DB 0                          -> completes; prints the ticks it took
A tick is 50 SQLite VM instructions. With MM_CACHE_PAGES=n the page cache is tiny, so
SQLite spills changed pages into the database file before the commit (the case where
a kill leaves a hot journal that the next writer must roll back).
"""

import os
import signal
import sys

from metamorph.migrate import runner

TICK = 50


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_progress(needle):
    def progress(phase, done, total, message):
        if f"{phase}|{done}|{message}".startswith(needle):
            die()

    return progress


def instrument(limit, ticks):
    real_open = runner.open_writable

    def open_instrumented(*args, **kwargs):
        conn = real_open(*args, **kwargs)
        if os.environ.get("MM_CACHE_PAGES"):
            conn.execute(f"PRAGMA cache_size = {int(os.environ['MM_CACHE_PAGES'])}")

        def handler():
            ticks[0] += 1
            if limit and ticks[0] >= limit:
                die()
            return 0

        conn.set_progress_handler(handler, TICK)
        return conn

    runner.open_writable = open_instrumented


def main():
    mode, db, arg = sys.argv[1:4]
    ticks = [0]
    instrument(int(arg) if mode == "vm" else 0, ticks)
    progress = kill_at_progress(arg) if mode == "progress" else None
    runner.run_migrations(db, progress=progress)
    print(f"completed {ticks[0]}")


if __name__ == "__main__":
    main()
