"""Fixtures for the backup tests: a real Metamorph file, a backup directory, real processes."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from metamorph import schema

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "driver.py")


@pytest.fixture
def source(metamorph_db):
    """A migrated Metamorph database (200 sessions, 4 vaults, OAuth tokens included)."""
    return metamorph_db(state="migrated", sessions=200, vaults=4)


@pytest.fixture
def backup_dir(tmp_path):
    return str(tmp_path / "backups")


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def table_counts(path):
    """{table: rows} for every vault table in the file, asked directly with COUNT(*)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {schema.quote(t)}").fetchone()[0]
            for t in schema.VAULT_TABLES
            if t in names
        }
    finally:
        conn.close()


def integrity(path):
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def run_driver(*args, timeout=60):
    """Run driver.py to its end (or its SIGKILL); return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, DRIVER, *args], capture_output=True, text=True, timeout=timeout
    )


def killed(proc):
    return proc.returncode == -signal.SIGKILL


class Background:
    """driver.py running next to the test (a writer, a lock holder) until the test ends."""

    def __init__(self, *args, ready):
        self.proc = subprocess.Popen(
            [sys.executable, DRIVER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line == ready, (line, self.proc.stderr.read() if self.proc.poll() else "")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def background():
    started = []

    def start(*args, ready):
        started.append(Background(*args, ready=ready))
        return started[-1]

    yield start
    for proc in started:
        proc.stop()
