"""The proof that the site renders from the dashboard's database only: a real web process
(runserver) runs with an audit hook that records and refuses every open, sqlite3.connect
and listing of a configured Metamorph file (its -journal/-wal) and of its backup directory,
while the two databases' agents run as subprocesses beside their files."""

import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.hosts import start_agent, two_hosts, wait_for
from metamorph_admin.tests.job_helpers import run_python

pytestmark = pytest.mark.dashboard_db

# The hook is installed before Django is imported: nothing of the site runs without it.
SERVE = r"""
import os, sys, traceback, urllib.parse
FILES = os.environ["FORBIDDEN_FILES"].split(os.pathsep)
DIRS = os.environ["FORBIDDEN_DIRS"].split(os.pathsep)
LOG = open(os.environ["VIOLATIONS"], "a", buffering=1)
EVENTS = {"open", "sqlite3.connect", "os.listdir", "os.scandir"}

def forbidden(target):
    if isinstance(target, int) or target is None:
        return None
    name = os.fsdecode(target)
    if name.startswith("file:"):
        name = urllib.parse.unquote(name[5:].split("?", 1)[0])
    name = os.path.abspath(name)
    if any(name.startswith(f) for f in FILES):  # the file, -journal, -wal, -shm
        return name
    if any(name == d or name.startswith(d + os.sep) for d in DIRS):
        return name
    return None

def hook(event, args):
    if event in EVENTS and args:
        name = forbidden(args[0])
        if name:
            where = "".join(traceback.format_stack(limit=8)[:-1])
            LOG.write(f"{event} {name}\n{where}\n@@\n")
            raise PermissionError(f"the web process may not touch {name}")

sys.addaudithook(hook)
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "runserver", "--noreload", sys.argv[1]])
"""

SESSION = """
import sys, django
django.setup()
from django.contrib.auth.models import Group, User
from django.test import Client
user, _ = User.objects.get_or_create(username=sys.argv[2])
user.groups.add(Group.objects.get(name=sys.argv[3]))
client = Client()
client.force_login(user)
session = client.session
session["metamorph_database"] = sys.argv[1]
session.save()
print(session.session_key)
"""

# Pages that render from the dashboard's database only (the audit hook holds them to it).
CONVERTED = [
    "/",
    "/vault/?id=user-0001",
    "/indexes/",
    "/indexes/?show=problems",
    "/health/",
    "/checks/",
    "/snapshot/status/",
    "/vaults.csv",
    "/vaults.json",
    "/jobs/",
    "/backups/",
    "/migrations/",
    "/metrics",
    "/healthz",
    "/remap/",
    "/remap/source-ids.csv?source=default-vault",
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Site:
    def __init__(self, base, violations):
        self.base, self.violations = base, violations
        self.cookies = {}

    def get(self, path, session):
        # /metrics answers only with its token (METRICS_TOKEN below); other pages ignore it.
        headers = {"Authorization": "Bearer metrics-token-of-the-proof-test"}
        return self._send(urllib.request.Request(self.base + path, headers=headers), session)

    def post(self, path, session, data):
        body = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in data.items()).encode()
        return self._send(urllib.request.Request(self.base + path, data=body), session)

    def _send(self, req, session):
        jar = {**self.cookies, "sessionid": session}
        req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items() if v))
        try:
            with _OPENER.open(req, timeout=60) as resp:
                status, html, headers = resp.status, resp.read().decode(), resp.headers
        except urllib.error.HTTPError as exc:
            status, html, headers = exc.code, exc.read().decode(), exc.headers
        for cookie in headers.get_all("Set-Cookie") or []:
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value.strip('"')
        if status in (301, 302, 303):  # followed here, with the cookies it set (messages)
            return self.get(headers["Location"], session)
        return status, html

    def touched(self):
        """The files and folders the web process tried to open so far."""
        if not os.path.exists(self.violations):
            return []
        with open(self.violations) as fh:
            return [b.strip() for b in fh.read().split("@@") if b.strip()]


@pytest.fixture
def site(tmp_path, metamorph_db):
    """Two databases in two folders with an agent each, and the web process that must not
    touch either folder."""
    backups = tmp_path / "backups"
    files, env = two_hosts(tmp_path, metamorph_db, backups)
    for name in files:
        (backups / name).mkdir(parents=True)  # a folder the Backups page would list
    procs = [
        start_agent(name, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in files
    ]
    port = _free_port()
    violations = tmp_path / "violations.txt"
    web_env = dict(
        env,
        FORBIDDEN_FILES=os.pathsep.join(str(p) for p in files.values()),
        FORBIDDEN_DIRS=os.pathsep.join([str(backups), *(str(p.parent) for p in files.values())]),
        VIOLATIONS=str(violations),
        DEBUG="true",  # static files without collectstatic
        METRICS_TOKEN="metrics-token-of-the-proof-test",
    )
    web_log = open(tmp_path / "web.log", "w")  # noqa: SIM115 (closed at teardown)
    web = subprocess.Popen(
        [sys.executable, "-c", SERVE, f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=web_env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    procs.append(web)

    def session(name, user="oscar", role="operator"):
        return run_python(SESSION, name, user, role, env=env).strip().splitlines()[-1]

    def listening():
        assert web.poll() is None, (tmp_path / "web.log").read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(listening, "the web process to listen")
    yield Site(f"http://127.0.0.1:{port}", str(violations)), session, env
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=60)
    web_log.close()


def _read_in(site, session):
    """The Vaults page once its agent's first background read has stored its report."""

    def shown():
        status, html = site.get("/", session)
        return (
            status == 200
            and 'id="distinct-vaults">counting' not in html
            and ('id="distinct-vaults"' in html)
        )

    wait_for(shown, "the agent's first read to reach the Vaults page")


def _backed_up(web, key):
    """Back up now, then the Backups page and the backup's own page from the mirror."""
    status, html = web.get("/backups/", key)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    status, html = web.post(
        "/jobs/start/backup/", key, {"csrfmiddlewaretoken": csrf, "label": "proof"}
    )
    assert status == 200, html[-800:]

    def listed():
        found = re.search(r"/backups/(metamorph-backup-[0-9-]+\.db)/", web.get("/backups/", key)[1])
        return found and found.group(1)

    name = wait_for(listed, "the agent's backup to be listed on the Backups page")
    status, html = web.get(f"/backups/{name}/", key)
    assert status == 200 and name in html and "verified" in html, html[-800:]


def _remapped(web, key):
    """The Remap page once its agent read the owner columns and the plans, a preview the
    agent computes (the wait page polls until the plan is stored), the plan's page and the
    source vault's ids as the CSV of a mapping file."""
    wait_for(
        lambda: "Owner columns as read by agent pid " in web.get("/remap/", key)[1],
        "the agent's read of the owner columns",
    )
    status, html = web.get("/remap/", key)
    assert "The plans' journal as read by agent pid " in html, html[-800:]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    status, html = web.post(
        "/remap/preview/move/",
        key,
        {"csrfmiddlewaretoken": csrf, "source": "default-vault", "target": "proof-vault"},
    )
    assert status == 200, html[-800:]

    def planned():
        found = re.search(r"/remap/plan/([^/]+)/", web.get("/remap/", key)[1])
        return found and found.group(1)

    plan_id = wait_for(planned, "the agent's preview to be stored")
    wait_for(
        lambda: (
            "The plan's journal as read by agent pid " in web.get(f"/remap/plan/{plan_id}/", key)[1]
        ),
        "the agent's read of the plan's journal",
    )
    status, html = web.get(f"/remap/plan/{plan_id}/", key)
    assert 'id="execute-form"' in html, html[-800:]

    def listed():
        status, body = web.get("/remap/source-ids.csv?source=default-vault", key)
        found = re.search(r"read=(\d+)", body)
        if found:
            status, body = web.get(
                f"/remap/source-ids.csv?source=default-vault&read={found.group(1)}", key
            )
        return body.startswith("conversation_id,") and body

    assert "vault_id" in wait_for(listed, "the agent's list of the source vault's ids")


def test_the_converted_pages_and_buttons_never_open_a_metamorph_file_or_its_backups(site):
    web, session, env = site
    for name in ("staging", "production"):
        key = session(name)
        _read_in(web, key)
        _remapped(web, session(name, "ada", "admin"))
        for path in CONVERTED:
            status, html = web.get(path, key)
            assert status == 200, (path, html[-800:])
            assert "Traceback" not in html
        status, html = web.get("/health/", key)
        assert "as read by agent pid " in html  # the heartbeat's facts, and when
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        status, html = web.post(
            "/snapshot/refresh/", key, {"csrfmiddlewaretoken": csrf, "next": "/health/"}
        )
        assert status == 200 and "Recount queued" in html, html[-800:]
        _backed_up(web, key)
        assert web.touched() == [], "\n\n".join(web.touched())
