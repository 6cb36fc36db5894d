"""A real process for the kill, lock and concurrency tests (run with subprocess, not imported).

    driver.py backup DB DIR [--kill-at PHASE:N|PHASE:final] [--compress] [--step-pages N]
    driver.py restore DB DIR NAME [--kill-at ...] [--step-pages N]
    driver.py write DB            insert a conversation and 3 messages per transaction, forever
    driver.py hold DB             open a write transaction, print "locked", sleep
    driver.py read DB             open a read transaction, print "reading", sleep

--kill-at sends SIGKILL to this process at the Nth progress report of PHASE (or when the
phase reports done == total), so the test sees exactly what a killed run leaves behind.
"""

import argparse
import os
import signal
import sqlite3
import sys
import time
import uuid

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
)

from metamorph import backup
from metamorph.backup import copy as backup_copy  # noqa: E402
from metamorph.backup import file_copy  # noqa: E402


def killer(spec):
    phase, _, when = (spec or "").partition(":")
    seen = {"n": 0}

    def progress(p, done, total, message=""):
        print(p, done, total, message, flush=True)
        if p != phase:
            return
        seen["n"] += 1
        final = when == "final" and total and done >= total
        if final or (when.isdigit() and seen["n"] == int(when)):
            os.kill(os.getpid(), signal.SIGKILL)

    return progress


def write_forever(db):
    conn = sqlite3.connect(db, timeout=5, isolation_level=None)
    n = 0
    while True:
        conv = f"writer-{uuid.uuid4()}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO conversations (id, stance, config, created_at, updated_at) "
            "VALUES (?, '{}', '{}', 'now', 'now')",
            (conv,),
        )
        for i in range(3):
            conn.execute(
                "INSERT INTO messages (id, conversation_id, role, content, timestamp) "
                "VALUES (?, ?, 'user', ?, 'now')",
                (f"{conv}-{i}", conv, "x" * 400),
            )
        conn.execute("COMMIT")
        n += 1
        if n == 1:
            print("writing", flush=True)
        time.sleep(0.003)


def hold(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE sessions SET name = name WHERE rowid = 1")
    print("locked", flush=True)
    time.sleep(120)


def read(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM messages").fetchone()
    print("reading", flush=True)
    time.sleep(120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--kill-at")
    ap.add_argument("--compress", action="store_true")
    ap.add_argument("--step-pages", type=int)
    opts = ap.parse_args()
    if opts.step_pages:
        backup_copy.COPY_STEP_PAGES = opts.step_pages
        file_copy.FIRST_CHUNK = opts.step_pages * 4096  # the kernel copy's chunks too
    if opts.command == "backup":
        db, directory = opts.args
        result = backup.run_backup(
            db, directory, compress=opts.compress, progress=killer(opts.kill_at)
        )
        print("backup", result["name"], flush=True)
    elif opts.command == "restore":
        db, directory, name = opts.args
        result = backup.restore_backup(db, directory, name, progress=killer(opts.kill_at))
        print("restored", result["name"], flush=True)
    elif opts.command == "write":
        write_forever(opts.args[0])
    elif opts.command == "hold":
        hold(opts.args[0])
    elif opts.command == "read":
        read(opts.args[0])


if __name__ == "__main__":
    main()
