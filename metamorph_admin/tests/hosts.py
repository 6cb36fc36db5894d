"""Two "hosts" on one machine: a Metamorph file each in its own folder, one dashboard database
they share, and agents started as real subprocesses."""

import os
import subprocess
import sys
import time

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.job_helpers import subprocess_env
from metamorph_admin.tests.shared_db import shared_database_url


def two_hosts(tmp_path, metamorph_db, backups, kind="migrated"):
    """({name: file}, env) for databases staging and production in two folders (files of
    the metamorph_db `kind`)."""
    files = {}
    for name in ("staging", "production"):
        folder = tmp_path / f"host-{name}"
        folder.mkdir()
        files[name] = folder / "metamorph.db"
        os.replace(metamorph_db(kind), files[name])
    env = subprocess_env(
        "unused",
        DATABASE_URL=shared_database_url(tmp_path),
        METAMORPH_DATABASES=",".join(f"{n}={p}" for n, p in files.items()),
        METAMORPH_BACKUP_DIR=str(backups),
        DEBUG="false",
    )
    return files, env


def start_agent(name, env, **streams):
    """`manage.py agent --database NAME` as a subprocess, looking at its queue every 0.1 s."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "agent", "--database", name, "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        text=True,
        **streams,
    )


def wait_for(condition, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
