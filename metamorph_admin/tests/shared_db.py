"""A dashboard database that several real processes share, on the backend the suite runs on:
a migrated SQLite file, or (DATABASE_URL=postgres://…) a fresh PostgreSQL database made from
a migrated template, dropped when the tests end."""

import atexit
import os
import urllib.parse
import uuid

import psycopg

from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db

_TEMPLATE: dict[str, str] = {}


def on_postgres():
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _with_name(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _server(url):
    return psycopg.connect(_with_name(url, "postgres"), autocommit=True)


def _drop(url, name):
    with _server(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _template(url):
    if "name" not in _TEMPLATE:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"mm_admin_template_{worker}_{os.getpid()}"
        with _server(url) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop, url, name)
        result = manage("migrate", "-v0", env={"DATABASE_URL": _with_name(url, name)})
        assert result.returncode == 0, result.stderr
        _TEMPLATE["name"] = name
    return _TEMPLATE["name"]


def shared_database_url(tmp_path):
    """DATABASE_URL of a migrated dashboard database that subprocesses may share."""
    if not on_postgres():
        return f"sqlite:///{migrated_admin_db(tmp_path)}"
    url = os.environ["DATABASE_URL"]
    template = _template(url)
    name = f"mm_admin_race_{uuid.uuid4().hex[:12]}"
    with _server(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    atexit.register(_drop, url, name)
    return _with_name(url, name)
