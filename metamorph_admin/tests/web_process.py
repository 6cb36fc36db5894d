"""The dashboard as a real web process (runserver) with an audit hook that records and refuses
every open, sqlite3.connect and listing of the configured Metamorph files (their -journal/-wal),
of the folders holding them and of the backup folder, beside real agent subprocesses: what the
tests of several hosts drive over HTTP."""

import contextlib
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.hosts import start_agent, wait_for
from metamorph_admin.tests.job_helpers import run_python

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


class Site:
    def __init__(self, base, violations):
        self.base, self.violations = base, violations
        self.cookies = {}
        self.location = ""  # where the last redirect led
        self.agents = {}  # database name -> pid of its agent

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
            with OPENER.open(req, timeout=60) as resp:
                status, html, headers = resp.status, resp.read().decode(), resp.headers
        except urllib.error.HTTPError as exc:
            status, html, headers = exc.code, exc.read().decode(), exc.headers
        for cookie in headers.get_all("Set-Cookie") or []:
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value.strip('"')
        if status in (301, 302, 303):  # followed here, with the cookies it set (messages)
            self.location = headers["Location"]
            return self.get(headers["Location"], session)
        return status, html

    def touched(self):
        """The files and folders the web process tried to open so far."""
        if not os.path.exists(self.violations):
            return []
        with open(self.violations) as fh:
            return [b.strip() for b in fh.read().split("@@") if b.strip()]


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_of(html):
    return CSRF.search(html).group(1)


@contextlib.contextmanager
def serving(tmp_path, files, env, backups):
    """(Site, session) of a web process that may touch none of `files`' folders nor `backups`,
    with an agent subprocess per database; session(name, user, role) logs a user in."""
    procs = [
        start_agent(name, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in files
    ]
    port = free_port()
    violations = tmp_path / "violations.txt"
    web_env = dict(
        env,
        FORBIDDEN_FILES=os.pathsep.join(str(p) for p in files.values()),
        FORBIDDEN_DIRS=os.pathsep.join([str(backups), *(str(p.parent) for p in files.values())]),
        VIOLATIONS=str(violations),
        DEBUG="true",  # static files without collectstatic
        METRICS_TOKEN="metrics-token-of-the-proof-test",
    )
    web_log = open(tmp_path / "web.log", "w")  # noqa: SIM115 (closed below)
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

    try:
        wait_for(listening, "the web process to listen")
        site = Site(f"http://127.0.0.1:{port}", str(violations))
        site.agents = {name: proc.pid for name, proc in zip(files, procs, strict=False)}
        yield site, session
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        web_log.close()
