"""Issue 12: the dashboard under load — gunicorn (2 workers) on 127.0.0.1 against the ~1 GB
file, 50 clients (bench/load.py), with no cached read (no task worker: every page is in its
"counting…" state) and with the cached background read. Targets: cached p95 < 300 ms on every
page; uncached p95 < 1 s and no page waits on a count.

Everything runs in a scratch directory (its own admin database, backup directory, port); the
Metamorph file is only read. Bounded: LOAD_SECONDS per scenario (default 60), LOAD_CLIENTS
(default 50), LOAD_THINK seconds between a client's requests (default 1.0).
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from bench import load
from bench.common import section

# LOAD_SITE_ROOT runs the same load against another checkout (e.g. main, for a before figure).
ROOT = os.environ.get("LOAD_SITE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))
)
TICKS = os.sysconf("SC_CLK_TCK")
USER = "loadtest"
CACHED_P95_MS = 300
UNCACHED_P95_MS = 1000
FROM_DATABASE_P95_MS = 100  # issue 15: pages from the dashboard's database only


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """A scratch metamorph-admin (admin database, login, gunicorn, optional worker)."""

    def __init__(self, db_path, workers=2, database_url=None):
        self.dir = tempfile.mkdtemp(prefix="bench-load-")
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self.env = {
            **os.environ,
            "PYTHONPATH": ROOT,
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "false",
            "METAMORPH_DATABASE_PATH": db_path,
            "METAMORPH_BACKUP_DIR": os.path.join(self.dir, "backups"),
            "DATABASE_URL": database_url or f"sqlite:///{self.dir}/admin.sqlite3",
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_WORKERS": str(workers),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOAD_PASSWORD": self.password,
            "DJANGO_SETTINGS_MODULE": "metamorph_admin.settings",
        }
        self.procs = {}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args):
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def python(self, code):
        subprocess.run(
            [sys.executable, "-c", "import django; django.setup()\n" + code],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def setup(self):
        self.manage("migrate", "--noinput", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")
        self.manage(
            "createoperator", USER, "--role", "admin", "--password-from-env", "LOAD_PASSWORD"
        )

    def start(self, name, argv):
        with open(os.path.join(self.dir, f"{name}.log"), "wb") as log:  # the child keeps it
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_web(self):
        self.start(
            "web",
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--access-logfile",
                "/dev/null",
                "metamorph_admin.wsgi",
            ],
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + "/login/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start: see {self.dir}/web.log")

    def cpu_seconds(self):
        """CPU time (user + system) the web processes used so far: gunicorn and its workers."""
        master = self.procs["web"].pid
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == master or int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def stop(self, name):
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        shutil.rmtree(self.dir, ignore_errors=True)


def _load(site, seconds, clients, think):
    """The load's summary plus the web processes' CPU per request (what a request costs,
    whatever else the machine is running) and the machine's load average meanwhile."""
    cpu = site.cpu_seconds()
    summary = load.run_load(
        site.url, clients, seconds, load.MAX_REQUESTS, think, username=USER, password=site.password
    )
    n = summary["all"]["n"]
    summary["all"]["cpu_ms_per_request"] = (site.cpu_seconds() - cpu) * 1000 / n if n else 0
    summary["all"]["loadavg"] = os.getloadavg()[0]
    return summary


def _cost_line(summary):
    s = summary["all"]
    capacity = 2000 / s["cpu_ms_per_request"] if s["cpu_ms_per_request"] else 0
    print(
        f"  server CPU {s['cpu_ms_per_request']:.1f} ms per request (2 idle cores would serve "
        f"~{capacity:.0f} requests/s); machine load average {s['loadavg']:.1f} during the run"
    )


def _verdict(summary, target_ms):
    pages = {p: s for p, s in summary.items() if p != "all"}
    worst = max(pages.items(), key=lambda kv: kv[1]["p95"])
    met = worst[1]["p95"] < target_ms and not summary["all"]["errors"]
    return (
        f"worst page p95 {worst[1]['p95']:.0f} ms ({worst[0]}), target < {target_ms} ms on "
        f"every page: {'meets' if met else 'MISSES'}"
    )


def run_backends(path):
    """run() on the embedded SQLite and, when LOAD_DATABASE_URL names an empty PostgreSQL
    database (e.g. postgres://…/bench_load), on PostgreSQL too: the same pages, side by side."""
    results = {"SQLite": run(path)}
    url = os.environ.get("LOAD_DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        results["PostgreSQL"] = run(path, database_url=url)
    else:
        print("  (PostgreSQL: set LOAD_DATABASE_URL to an empty database to measure it too)")
    print("\n  dashboard's database   p95 no counts yet   p95 cached read   (worst page)")
    for name, (uncached, cached) in results.items():
        met = max(_worst(uncached), _worst(cached)) < FROM_DATABASE_P95_MS
        print(
            f"  {name:<22} {_worst(uncached):>12.0f} ms {_worst(cached):>15.0f} ms   "
            f"target < {FROM_DATABASE_P95_MS} ms: {'meets' if met else 'MISSES'}"
        )
    return results


def _worst(summary):
    return max(s["p95"] for p, s in summary.items() if p != "all")


def run(path, seconds=None, clients=None, think=None, database_url=None):
    seconds = float(seconds or os.environ.get("LOAD_SECONDS", 60))
    clients = int(clients or os.environ.get("LOAD_CLIENTS", 50))
    think = float(think if think is not None else os.environ.get("LOAD_THINK", 1.0))
    with section(
        f"Issue 12 — under load ({'PostgreSQL' if database_url else 'SQLite'} dashboard "
        f"database): gunicorn 2 workers, {clients} clients, think "
        f"{think} s, {seconds:.0f} s per scenario, {os.path.getsize(path) / 1e9:.2f} GB"
    ):
        site = Site(path, database_url=database_url)
        try:
            site.setup()
            # What an agent stores first (its heartbeat's facts, the page report without
            # counts): the pages render from the dashboard's database only, as on two hosts.
            site.python(
                "from django.conf import settings\n"
                "from metamorph import report\n"
                "from metamorph_admin import agents, databases\n"
                "from vaults.models import Snapshot\n"
                "Snapshot.objects.all().delete()\n"
                "agents.beat(agents.register(databases.default()))\n"
                "path = settings.METAMORPH_DATABASE_PATH\n"
                "Snapshot.objects.create(db_path=path, state=Snapshot.State.RUNNING,\n"
                "                        payload=report.page_shape(path))"
            )
            site.start_web()
            uncached = _load(site, seconds, clients, think)
            load.print_summary(
                uncached,
                "no counts yet (no agent running: the page report and one heartbeat stored)",
            )
            _cost_line(uncached)
            print("  " + _verdict(uncached, UNCACHED_P95_MS))
            site.python(
                "from vaults.models import Snapshot\n"
                "from vaults.services import snapshots\n"
                "from django.conf import settings\n"
                "Snapshot.objects.all().delete()\n"
                "s = Snapshot.objects.create(db_path=settings.METAMORPH_DATABASE_PATH)\n"
                "snapshots.take_snapshot(s.id)"
            )
            cached = _load(site, seconds, clients, think)
            load.print_summary(cached, "cached background read")
            _cost_line(cached)
            print("  " + _verdict(cached, CACHED_P95_MS))
        finally:
            site.close()
    return uncached, cached
