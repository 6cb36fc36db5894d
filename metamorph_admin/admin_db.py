"""The dashboard's own database (SQLite on one host, PostgreSQL for several): is it reachable
and writable, and if not, one line that names where it is and why not (never the password) —
the same line on a page, /healthz and a command."""

import os

from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.template.loader import render_to_string

from metamorph.connection import writable_problem

WRITE_TITLE = "The dashboard cannot write its own database"


def where() -> str:
    """host:port/name (PostgreSQL) or the file (SQLite), as DATABASE_URL names it."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite file {s.get('NAME')}"
    return f"{connection.display_name} at {s.get('HOST') or 'localhost'}:{s.get('PORT') or 5432}, database {s.get('NAME')}"


def cause(exc: BaseException) -> str:
    """The driver's reason in one line (psycopg's message spans several)."""
    text = " ".join(str(exc).split())
    for noise in (
        "connection failed: ",
        "Is the server running on that host and accepting TCP/IP connections?",
    ):
        text = text.replace(noise, "")
    return text.strip().rstrip(".") or type(exc).__name__


def unreachable_line(exc: BaseException) -> str:
    return (
        f"The dashboard's database ({where()}) cannot be used: {cause(exc)}. "
        "Check DATABASE_URL and that the database server runs."
    )


def problem() -> str:
    """ "" when a query answers, else the one line saying why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return ""
    except DatabaseError as exc:
        return unreachable_line(exc)


def without_paths(line: str) -> str:
    """The line for callers without a login (/healthz): the SQLite file is not named."""
    path = _sqlite_path()
    return line.replace(path, "the file DATABASE_URL names") if path else line


def _sqlite_path():
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict.get("NAME") or "")
    return None if not name or name == ":memory:" or name.startswith("file:") else name


def write_problem():
    """Why the dashboard's own SQLite database cannot be written, or '' (other engines: '')."""
    path = _sqlite_path()
    if path is None or not os.path.exists(path):
        return ""
    return writable_problem(path)


def write_refusal_line(why=""):
    """What an operator reads when a write to the dashboard's database failed."""
    path = _sqlite_path() or "the database DATABASE_URL names"
    why = why or write_problem() or "a write was refused"
    return (
        f"The dashboard's own database ({path}) cannot be written: {why}. Logins, jobs and "
        "the audit trail are stored there, so nothing can be started. Remount the volume "
        "read-write (or give this user write access to the file and its folder), or set "
        "DATABASE_URL to a writable place, then restart the dashboard. The Metamorph "
        "database was not touched."
    )


def is_write_refusal(exc):
    """True for the error a read-only or unwritable SQLite file gives on a write."""
    text = str(exc).lower()
    return isinstance(exc, DatabaseError) and (
        "readonly database" in text or "read-only" in text or "unable to open database" in text
    )


class ReadOnlyAdminDatabaseMiddleware:
    """A write the dashboard's database refuses (a login on a read-only volume) is a 503 page
    that says so, not a bare 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not is_write_refusal(exc):
            return None
        html = render_to_string(
            "metamorph_admin/admin_database_problem.html",
            {"problem": write_refusal_line(), "problem_title": WRITE_TITLE},
        )
        return HttpResponse(html, status=503)
