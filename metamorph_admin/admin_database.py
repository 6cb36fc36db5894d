"""The dashboard's own database (logins, jobs, audit): whether it can be written, and the one
sentence every door says when it cannot (a page, /healthz, a command)."""

import os

from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.template.loader import render_to_string

from metamorph.connection import writable_problem

TITLE = "The dashboard cannot write its own database"


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


def sentence(why=""):
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
            {"problem": sentence(), "problem_title": TITLE},
        )
        return HttpResponse(html, status=503)
