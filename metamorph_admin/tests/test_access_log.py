"""The metrics token is taken only from the Authorization header and never reaches a log:
a real gunicorn with this repository's gunicorn.conf.py, its access log read back."""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from metamorph_admin.tests.commands import ROOT
from metamorph_admin.tests.job_helpers import migrated_admin_db, subprocess_env

TOKEN = "metrics-token-that-must-never-be-logged"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_for(condition, what, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_a_token_in_the_url_is_refused_and_no_token_reaches_the_access_log(tmp_path, metamorph_db):
    port, log = _free_port(), tmp_path / "access.log"
    env = subprocess_env(
        migrated_admin_db(tmp_path),
        DEBUG="false",
        METRICS_TOKEN=TOKEN,
        METAMORPH_DATABASE_PATH=metamorph_db("migrated"),
        BIND=f"127.0.0.1:{port}",
        WEB_WORKERS="1",
        ACCESS_LOG=str(log),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "metamorph_admin.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def answers():
            try:
                return _get(f"{base}/healthz") in (200, 503)
            except OSError:
                return False

        _wait_for(answers, "gunicorn to answer")
        assert _get(f"{base}/metrics?token={TOKEN}") == 401
        assert _get(f"{base}/metrics?access_token={TOKEN}&x=1") == 401
        assert _get(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"}) == 200
        _wait_for(lambda: log.exists() and log.read_text().count("/metrics") >= 3, "the log")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    text = log.read_text()
    assert '"GET /metrics HTTP/1.1" 401' in text and '"GET /metrics HTTP/1.1" 200' in text
    assert TOKEN not in text and TOKEN not in output
