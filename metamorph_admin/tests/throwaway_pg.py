"""A PostgreSQL server a test owns and may stop: its own cluster (initdb) on a free port in a
temporary folder, so stopping it never touches the suite's shared test database."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import psycopg

USER = "postgres"


def _binaries():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def available():
    """'' when a throw-away cluster can be made here, else why not."""
    if _binaries() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    return ""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """initdb + pg_ctl start/stop; run as the postgres user when this process is root
    (PostgreSQL refuses to run as root)."""

    def __init__(self):
        self.bin = _binaries()
        self.root = tempfile.mkdtemp(prefix="throwaway-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, USER, USER)

    def _run(self, *args):
        command = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done

    def init(self):
        self._run("initdb", "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-w",
            "-l",
            os.path.join(self.root, "log"),
            "-o",
            options,
            "start",
        )
        return self

    def stop(self):
        """Stop it at once (fast shutdown: every open connection is cut)."""
        self._run("pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")

    def url(self, name="postgres"):
        return f"postgres://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name):
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self.stop()
            except AssertionError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
