"""Reading a file's header or probing its locks never drops a lock this process holds on it.

Closing any descriptor of a file drops every POSIX lock the process holds on that file,
SQLite's included (https://sqlite.org/howtocorrupt.html, "POSIX advisory locks canceled by a
separate thread doing close()"). An agent runs a job (a migration, a remap, a restore) in the
same process as its heartbeat, which reads the file's header every few seconds: had it opened
and closed the file, Metamorph could have written beside the job's write transaction.
"""

import sqlite3
import subprocess
import sys

import pytest

from metamorph import inspect
from metamorph.connection import check_file, lock_state, open_readonly, schema_cookie
from metamorph.holders import processes_holding

OTHER_WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    conn.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError as exc:
    print("refused:", exc)
else:
    print("GOT THE WRITE LOCK")
"""


def _another_process_tries_to_write(path):
    return subprocess.run(
        [sys.executable, "-c", OTHER_WRITER, path], capture_output=True, text=True, check=True
    ).stdout.strip()


READS = {
    "check_file": check_file,
    "schema_cookie": schema_cookie,
    "lock_state": lock_state,
    "file_facts": inspect.file_facts,
    "processes_holding": processes_holding,
    "open_readonly": lambda path: open_readonly(path).close(),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_beside_our_write_transaction_keeps_its_lock(metamorph_db, read):
    path = metamorph_db("legacy")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert _another_process_tries_to_write(path) == "refused: database is locked"
        READS[read](path)
        READS[read](path)
        assert _another_process_tries_to_write(path) == "refused: database is locked"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert _another_process_tries_to_write(path) == "GOT THE WRITE LOCK"
