"""What the engine tests compare: file fingerprints, schema snapshots, lock-holding processes."""

import hashlib
import os
import re
import sqlite3
import subprocess
import sys

from conftest import sql  # noqa: F401  (one helper for every test)
from metamorph.testing.lockers import Locker as LockHolder  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def fingerprint(path):
    """(sha256, mtime_ns, size) of the file and whether a journal sits beside it."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    st = os.stat(path)
    return digest, st.st_mtime_ns, st.st_size, os.path.exists(f"{path}-journal")


def normalized(sql):
    """DDL text without layout: Metamorph's indentation and ours compare equal."""
    if sql is None:
        return None
    sql = re.sub(r"\s+", " ", sql.strip())
    return re.sub(r"\s*([(),])\s*", r"\1", sql)


def schema_snapshot(path, normalize=False):
    """Everything structural: sqlite_master, table_info, index keys, foreign keys, recorded ids."""
    conn = sqlite3.connect(path)
    try:
        master = sorted(
            (t, n, tbl, normalized(s) if normalize else s)
            for t, n, tbl, s in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        )
        detail = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            q = '"' + name + '"'
            detail[name] = {
                "columns": conn.execute(f"PRAGMA table_info({q})").fetchall(),
                "foreign_keys": conn.execute(f"PRAGMA foreign_key_list({q})").fetchall(),
                "indexes": sorted(
                    (
                        r[1],
                        r[2],
                        tuple(
                            x[2:4] for x in conn.execute(f'PRAGMA index_xinfo("{r[1]}")') if x[5]
                        ),
                    )
                    for r in conn.execute(f"PRAGMA index_list({q})")
                ),
            }
        recorded = []
        if "schema_migrations" in detail:
            recorded = [r[0] for r in conn.execute("SELECT id FROM schema_migrations ORDER BY id")]
        return {"master": master, "tables": detail, "recorded": recorded}
    finally:
        conn.close()


def row_counts(path):
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def run_driver(script, *args, timeout=60):
    """Run a test driver script from this folder in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    return subprocess.run(
        [sys.executable, path, *map(str, args)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
