"""Fixtures shared by every test: real Metamorph files built by makedemodb's builder."""

import os
import shutil
import sqlite3

import pytest

from metamorph.demo import build_demo_database

pytest_plugins = ["metamorph.testing.fixtures"]

# borg's self-tests (its own crypto and index code, ~0.07 s of each of the suite's ~150 borg
# runs) prove nothing about ours: the tests' borg runs skip them, through the one switch the
# product passes on to borg (metamorph/backup/repository.py; its test sees it pass).
os.environ.setdefault("BORG_SELFTEST", "disabled")


DB_FIXTURES = {"db", "django_user_model", "admin_user", "admin_client"}
TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server"}


def pytest_addoption(parser):
    parser.addoption(
        "--dashboard-db-only",
        action="store_true",
        help="run only the tests that touch the dashboard's own database (make test runs "
        "them a second time on PostgreSQL)",
    )


def _django_fixtures(names, defs_of):
    """The fixture names among `names` whose definition in force is pytest-django's (some
    tests name a Metamorph file `db`)."""
    found = set()
    for name in names:
        defs = defs_of(name) or ()
        if defs and defs[-1].func.__module__.startswith("pytest_django"):
            found.add(name)
    return found


def _touches_dashboard_db(marker, names):
    transactional = bool(names & TRANSACTIONAL_FIXTURES) or bool(
        marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    return transactional, bool(transactional or marker or names & DB_FIXTURES)


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--dashboard-db-only"):
        return
    keep, drop = [], []
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        names = _django_fixtures(
            item.fixturenames, lambda n, info=info: info.name2fixturedefs.get(n) if info else ()
        )
        touches = _touches_dashboard_db(item.get_closest_marker("django_db"), names)[1]
        touches = touches or item.get_closest_marker("dashboard_db") is not None
        (keep if touches and not _browser_only(item) and not _other_shape(item) else drop).append(
            item
        )
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def _browser_only(item):
    """A browser journey runs once, on SQLite, but for the one marked `postgresql`. What it adds
    to the view, job and sign-off tests is the browser (clicks, htmx swaps, scripts, where boxes
    fall), which does not change with the database its rows come from; every page, job, lock
    and signature it passes through is tested on PostgreSQL there (~70 s of this pass)."""
    browser = item.get_closest_marker("browser") is not None
    return browser and item.get_closest_marker("postgresql") is None


def _other_shape(item):
    """A test run on both shapes of a Metamorph file (metamorph/testing/shapes.py) runs on one
    of them in the PostgreSQL pass: the shape is the Metamorph file's, and the SQLite pass runs
    both; what PostgreSQL changes (jobs, locks, the agent's reconnects) is the same for each."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return params.get("shape", "linked") != "linked"


@pytest.fixture(autouse=True)
def _role_groups_exist(request):
    """A transactional test flushes the dashboard's database, the roles' data migration
    included. Run one test file after another on several workers (pytest -n) and a test using
    `db` may follow one: give every test that touches the database the three role groups."""
    names = _django_fixtures(
        request.fixturenames, lambda n: request._fixturemanager.getfixturedefs(n, request.node)
    )
    transactional, touches = _touches_dashboard_db(
        request.node.get_closest_marker("django_db"), names
    )
    if not touches:
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    from django.contrib.auth.models import Group, Permission

    from metamorph_admin.roles import ROLES

    if Group.objects.filter(name__in=list(ROLES)).count() == len(ROLES):
        return
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and on PostgreSQL a wait, at the session's end, for the
    sessions of processes the tests started (agents, gunicorn, manage.py) to be gone before
    the database is dropped: a killed process's server session ends a moment after it does,
    and one still open made the drop fail ("is being accessed by other users")."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            _wait_for_other_sessions(connection)


def _wait_for_other_sessions(connection, seconds=30.0):
    """Until no other session uses the test database; one still there after `seconds` is
    ended (pg_terminate_backend), and named, so that the drop can go on."""
    import time
    import warnings

    query = (
        "SELECT pid, client_port, backend_start, state, query FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    _close_other_wrappers(connection)
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute(query)
            others = cursor.fetchall()
            if not others or _all_ours(others):
                break  # waiting cannot end a session this process itself holds
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not others:
            return
        others = [(*row, _process_on_port(row[1])) for row in others]
        for pid, *_ in others:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    waited = f"{seconds:g} s" if time.monotonic() > deadline else "no wait: this process's own"
    warnings.warn(f"sessions still on the test database ({waited}), ended: {others}", stacklevel=2)


def _close_other_wrappers(current):
    """Close this process's other Django connections: Playwright's sync API runs a browser
    test in a greenlet, whose context variables are its own, so the ORM calls the test makes
    there (creating users) get a connection of their own that nothing else closes."""
    import gc

    from django.db.backends.base.base import BaseDatabaseWrapper

    gc.collect()  # a connection of a thread that ended closes when it is collected
    for wrapper in gc.get_objects():
        if (
            isinstance(wrapper, BaseDatabaseWrapper)
            and wrapper is not current
            and wrapper.connection is not None
            and wrapper._thread_ident == current._thread_ident
        ):
            wrapper.close()


def _all_ours(sessions):
    """Whether every session's client socket is this process's own."""
    import os

    return all(f"pid={os.getpid()}," in _socket_of(row[1]) for row in sessions)


def _socket_of(port):
    """`ss`'s line for the local socket with this client port ("" when there is none)."""
    import subprocess

    if not port:
        return ""
    found = subprocess.run(
        ["ss", "-tnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip()


def _process_on_port(port):
    """The local process whose socket has this client port (ss), to name a leaked session."""
    if not port:
        return ""
    line = _socket_of(port)
    if not line:
        return f"no local socket on port {port} (gone)"
    return f"{line} {_process_named(line)}"


def _process_named(ss_line):
    """Which process an `ss` line's pid is: this test process (with its threads), or the
    command line of a process a test started and left running."""
    import os
    import re
    import threading

    found = re.search(r"pid=(\d+)", ss_line)
    if not found:
        return ""
    pid = int(found.group(1))
    if pid == os.getpid():
        return f"(this test process; threads: {[t.name for t in threading.enumerate()]})"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return "(" + f.read().replace(b"\0", b" ").decode(errors="replace").strip() + ")"
    except OSError:
        return "(gone)"


@pytest.fixture(scope="session")
def _built(tmp_path_factory):
    cache = {}
    root = tmp_path_factory.mktemp("metamorph-dbs")

    def get(state, sessions, vaults, optional_tables, session_states, shape):
        key = (state, sessions, vaults, optional_tables, session_states, shape)
        if key not in cache:
            path = root / ("-".join(str(k) for k in key) + ".db")
            build_demo_database(
                str(path),
                sessions=sessions,
                vaults=vaults,
                state=state,
                optional_tables=optional_tables,
                session_states=session_states,
                shape=shape,
            )
            cache[key] = path
        return cache[key]

    return get


@pytest.fixture
def metamorph_db(_built, tmp_path):
    """make(state="legacy", sessions=60, vaults=6, ..., shape="linked") -> a private copy."""

    def make(
        state="legacy",
        sessions=60,
        vaults=6,
        optional_tables=False,
        session_states=True,
        shape="linked",
    ):
        source = _built(state, sessions, vaults, optional_tables, session_states, shape)
        target = tmp_path / f"{state}-{len(os.listdir(tmp_path))}.db"
        shutil.copyfile(source, target)
        return str(target)

    return make


def sql(path, query, params=()):
    """Ask the file directly: what the tests compare our pages and reports against."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()
