"""Issue 15: the agent beside the file. Its overhead at rest (CPU per minute and RSS while it
only heartbeats: facts, holders, migration state, the backup mirror) and the time from
"Back up now" (the job row the button creates) to the agent starting that job.

Runs in a scratch directory (bench_load.Site: its own admin database and backup directory);
the Metamorph file is only read, except by the backups the timing takes. Bounded:
AGENT_REST_SECONDS at rest (default 60), AGENT_BACKUPS backups timed (default 3).
"""

import json
import os
import subprocess
import sys
import time

from bench.bench_load import ROOT, TICKS, Site
from bench.common import section

START_TARGET_S = 1.0

ENQUEUE = """
import json, django
django.setup()
from django.contrib.auth.models import User
from metamorph_admin import jobs
job = jobs.enqueue_job("backup", {"label": "bench"}, user=User.objects.get(username="loadtest"))
print(json.dumps({"job": job.pk}))
"""
JOB = """
import json, sys, django
django.setup()
from metamorph_admin.models import Job
job = Job.objects.get(pk=int(sys.argv[1]))
print(json.dumps({"state": job.state, "started": job.started_at and (job.started_at - job.created_at).total_seconds()}))
"""


def _python(site, script, *args):
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu_and_rss(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/status") as fh:
        rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return (int(fields[11]) + int(fields[12])) / TICKS, rss * 1024


def _wait_ready(site):
    log = os.path.join(site.dir, "agent.log")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(log, "rb") as fh:
            if b"Agent of default " in fh.read():
                return
        if site.procs["agent"].poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the agent did not start: see {log}")


def _time_to_start(site):
    job = _python(site, ENQUEUE)["job"]
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        seen = _python(site, JOB, str(job))
        if seen["state"] in ("succeeded", "failed"):
            return seen["started"], seen["state"]
        time.sleep(0.2)
    raise RuntimeError(f"backup job #{job} did not finish within an hour")


def run(path, rest_seconds=None, backups=None):
    rest = float(rest_seconds or os.environ.get("AGENT_REST_SECONDS", 60))
    backups = int(backups or os.environ.get("AGENT_BACKUPS", 3))
    with section(
        f"Issue 15 — the agent: at rest {rest:.0f} s, 'Back up now' to the agent starting "
        f"the job x{backups}, {os.path.getsize(path) / 1e9:.2f} GB"
    ):
        site = Site(path)
        try:
            site.setup()
            site.start("agent", [sys.executable, "manage.py", "agent", "--database", "default"])
            _wait_ready(site)
            pid = site.procs["agent"].pid
            time.sleep(5)  # its first heartbeat and the backup mirror are start-up, not rest
            cpu0, _ = _cpu_and_rss(pid)
            time.sleep(rest)
            cpu1, rss = _cpu_and_rss(pid)
            print(
                f"  agent at rest: {(cpu1 - cpu0) * 60 / rest:.2f} CPU s per minute, "
                f"RSS {rss / 1e6:.0f} MB (heartbeat every 5 s)"
            )
            starts = []
            for _ in range(backups):
                started, state = _time_to_start(site)
                starts.append(started)
                print(f"  'Back up now' to the agent starting it: {started:.2f} s ({state})")
            worst = max(starts)
            print(
                f"  worst {worst:.2f} s, target < {START_TARGET_S:g} s: "
                f"{'meets' if worst < START_TARGET_S else 'MISSES'}"
            )
        finally:
            site.close()
