"""The dashboard's own database unreachable or refusing us: one line naming where and why, at
a command's start and on /healthz (503), never a traceback or the password."""

import json
import os
import socket
import urllib.parse

import pytest

from metamorph_admin.tests.commands import ROOT, manage
from metamorph_admin.tests.job_helpers import run_python
from metamorph_admin.tests.shared_db import on_postgres

HEALTHZ = """
import django, json
django.setup()
from django.test import RequestFactory
from metamorph_admin.views_monitoring import healthz
response = healthz(RequestFactory().get("/healthz"))
print(response.status_code, response.content.decode())
"""


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again at once: nothing listens there


def healthz(database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        SECRET_KEY="x",
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="metamorph_admin.settings",
        PYTHONPATH=str(ROOT),
    )
    status, body = run_python(HEALTHZ, env=env).split(" ", 1)
    return int(status), json.loads(body)


def with_wrong_password():
    """(the suite's DATABASE_URL with another password, its host:port)."""
    parts = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    server = f"{parts.hostname}:{parts.port}"
    wrong = parts._replace(netloc=f"{parts.username}:not-the-password@{server}")
    return urllib.parse.urlunsplit(wrong), server


@pytest.mark.dashboard_db
def test_a_command_says_in_one_line_that_postgresql_is_not_there():
    port = closed_port()
    url = f"postgres://someone:s3cret-pw@127.0.0.1:{port}/dashboard"
    result = manage("migrate", "-v0", env={"DATABASE_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"The dashboard's database (PostgreSQL at 127.0.0.1:{port}, database dashboard) "
        "cannot be used: "
    )
    assert "Connection refused" in lines[0] and "Check DATABASE_URL" in lines[0]
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.dashboard_db
def test_healthz_answers_503_naming_host_port_and_cause():
    port = closed_port()
    status, body = healthz(f"postgres://someone:s3cret-pw@127.0.0.1:{port}/dashboard")
    assert status == 503 and body["status"] == "down"
    assert body["checks"] == {"admin_database": "down"}
    assert f"127.0.0.1:{port}" in body["problem"] and "Connection refused" in body["problem"]
    assert "s3cret-pw" not in json.dumps(body)


@pytest.mark.dashboard_db
@pytest.mark.skipif(not on_postgres(), reason="needs the PostgreSQL of make test's second run")
def test_a_wrong_password_is_named_as_such():
    result = manage("migrate", "-v0", env={"DATABASE_URL": with_wrong_password()[0]})
    assert result.returncode == 2
    assert "password authentication failed" in result.stderr
    assert "not-the-password" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.dashboard_db
def test_an_agent_started_while_postgresql_is_not_there_says_so_in_one_line(metamorph_db):
    port = closed_port()
    url = f"postgres://someone:s3cret-pw@127.0.0.1:{port}/dashboard"
    env = {"DATABASE_URL": url, "METAMORPH_DATABASES": f"production={metamorph_db('migrated')}"}
    result = manage("agent", "--database", "production", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"The dashboard's database (PostgreSQL at 127.0.0.1:{port}, database dashboard) "
        f"cannot be used: {result.stderr.split('cannot be used: ', 1)[1].strip()}"
    ]
    assert "Connection refused" in result.stderr and "Check DATABASE_URL" in result.stderr
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.dashboard_db
@pytest.mark.skipif(not on_postgres(), reason="needs the PostgreSQL of make test's second run")
def test_healthz_answers_503_naming_a_wrong_password():
    url, server = with_wrong_password()
    status, body = healthz(url)
    assert status == 503 and body["checks"] == {"admin_database": "down"}
    assert server in body["problem"]
    assert "password authentication failed" in body["problem"]
    assert "not-the-password" not in json.dumps(body)


@pytest.mark.dashboard_db
def test_a_postgresql_host_that_answers_nothing_is_given_up_on_in_one_line():
    # A socket that listens and never speaks: the kernel completes the TCP handshake, then
    # nothing; libpq alone would wait for the server's first word for good.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        # libpq's shortest bound (2 s) instead of the default 10 s, which the next test checks.
        url = f"postgres://someone:s3cret-pw@127.0.0.1:{port}/dashboard?connect_timeout=2"
        result = manage("migrate", "-v0", env={"DATABASE_URL": url}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "timeout expired" in lines[0], result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "s3cret-pw" not in result.stderr


@pytest.mark.parametrize(
    ("query", "bound"), [("", 10), ("?connect_timeout=3", 3)], ids=["default", "from-the-url"]
)
def test_each_connect_to_postgresql_is_bounded_by_10_s_unless_the_url_says(query, bound):
    url = f"postgres://someone:s3cret-pw@127.0.0.1:1/dashboard{query}"
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = manage("shell", "-c", show, env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert f"'connect_timeout': {bound}" in result.stdout
