"""Real processes that hold SQLite locks, as Metamorph or a sqlite3 shell would."""

import subprocess
import sys
import time

_SCRIPT = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute(sys.argv[2])
conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()  # a plain BEGIN takes SHARED here
print("locked", flush=True)
time.sleep(60)
"""


class Locker:
    def __init__(self, path, statement="BEGIN IMMEDIATE"):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, path, statement], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"
        time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def release(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
