"""How long a command takes from process start to its first SQL on the Metamorph file.

A Python audit hook (`sqlite3.connect` event) in the child notes the moment the command first
opens the Metamorph file; the parent measures from just before it starts the process. The same
is measured for bare Python opening the file, the floor no command can beat.
"""

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

from bench.common import section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_SECONDS = 0.3

# Runs manage.py as `python manage.py ...` would, and prints the wall-clock time of the first
# connect to the file named by BENCH_DB, then exits at once (the rest of the work is not timed).
CHILD = """
import os, runpy, sys, time
db = os.environ["BENCH_DB"]
def hook(event, args):
    if event == "sqlite3.connect" and db in str(args[0]):
        print(f"FIRST_SQL {time.time():.6f}", flush=True)
        os._exit(0)
sys.addaudithook(hook)
if sys.argv[1] == "bare":
    import sqlite3
    sqlite3.connect(f"file:{db}?mode=ro", uri=True)
elif sys.argv[1] == "django":
    import sqlite3, django
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[2]}},
    )
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management.base import BaseCommand
    class Floor(BaseCommand):
        def handle(self, **options):
            User.objects.filter(username="bench").exists()  # whom the work is attributed to
            sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    Floor().run_from_argv(["manage.py", "floor"])
else:
    sys.argv = ["manage.py"] + sys.argv[1:]
    runpy.run_path(os.path.join(os.environ["BENCH_ROOT"], "manage.py"), run_name="__main__")
"""


def _first_sql_seconds(args, db_path, env):
    _as_after_a_finished_run(_admin_db(env))
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    stamps = [line.split()[1] for line in out.splitlines() if line.startswith("FIRST_SQL")]
    return float(stamps[0]) - started if stamps else float("nan")


def run(db_path, runs=5):
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "BENCH_DB": db_path,
            "BENCH_ROOT": ROOT,
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{scratch}/admin.sqlite3",
            "METAMORPH_BACKUP_DIR": scratch,
            # backupdb is an operation: it runs as a named dashboard user, created below.
            "METAMORPH_OPERATOR": "bench",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        subprocess.run(
            [sys.executable, "manage.py", "createoperator", "bench", "--role", "admin"]
            + ["--no-password"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with section("command start-up: process start to the first SQL on the file"):
            print(
                f"  min of {runs} runs each; bytecode cached (the second column: with "
                "PYTHONDONTWRITEBYTECODE=1 and no cache, as some images run); load "
                f"{os.getloadavg()[0]:.2f}"
            )
            bare = min(_first_sql_seconds(["bare"], db_path, env) for _ in range(runs))
            print(f"  {'bare python opening the file':<46} {bare:6.3f} s (the floor)")
            # Django's own floor: the least a Django command can do before the file (settings
            # with auth alone, one query of the dashboard's user), so that a slower or faster
            # hour of the machine shows in it too and what is ours is the difference.
            floor = min(
                _first_sql_seconds(["django", _admin_db(env)], db_path, env) for _ in range(runs)
            )
            print(
                f"  {'a minimal Django command opening the file':<46} {floor:6.3f} s (Django's floor)"
            )
            for args in (
                ["runmigration", "--list", "--db", db_path],
                # --timeout: the command's own read (without it the report is read by a reader
                # forked at the first line, metamorph/ahead.py, and the command opens no file).
                ["vaultreport", "--timeout", "600", "--json", "--db", db_path],
                ["backupdb", "--db", db_path, "--dir", scratch],
            ):
                took = min(_first_sql_seconds(args, db_path, env) for _ in range(runs))
                cold = min(_first_sql_seconds(args, db_path, _no_bytecode(env)) for _ in range(2))
                verdict = "meets" if took <= TARGET_SECONDS else "MISSES"
                print(
                    f"  {' '.join(args[:2]):<46} {took:6.3f} s  "
                    f"(target <= {TARGET_SECONDS} s: {verdict}; Django's floor "
                    f"+{(took - floor) * 1000:.0f} ms); no bytecode {cold:6.3f} s"
                )


def _admin_db(env):
    """The dashboard's database file of these runs (run() points DATABASE_URL at it)."""
    return env["DATABASE_URL"].removeprefix("sqlite:///")


def _as_after_a_finished_run(admin_db):
    """The run before was cut at its first SQL: a backupdb left its lock and its job running, and
    the next start would first reap them (~20 ms, what an operator meets only after a crash).
    Clear them, as a backup that ran to its end would have."""
    conn = sqlite3.connect(admin_db)
    try:
        with conn:
            conn.execute("DELETE FROM migrations_ui_mutationlock")
            conn.execute(
                "UPDATE migrations_ui_job SET state = 'interrupted', finished_at = "
                "CURRENT_TIMESTAMP WHERE state = 'running'"
            )
    finally:
        conn.close()


def _no_bytecode(env):
    """PYTHONDONTWRITEBYTECODE=1 and a bytecode cache of our own that stays empty."""
    cache = tempfile.mkdtemp(prefix="bench-nopyc-")
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": cache}
