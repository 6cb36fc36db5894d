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


_KILLED_WRITER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 1")   # spill: pages reach the file before any commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE messages SET content = content || '!'")
os.kill(os.getpid(), signal.SIGKILL)
"""


def leave_hot_journal(path):
    """A writer SIGKILLed mid-transaction (every message gained a '!' on disk): the file now
    has a hot -journal that only a writer may roll back. Returns the process's exit code."""
    return subprocess.run([sys.executable, "-c", _KILLED_WRITER, path]).returncode


def dead_pid():
    """The pid of a process that has already exited (a job 'claimed' by it is gone)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
