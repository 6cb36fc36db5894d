"""The Metamorph databases the dashboard knows, and which one a request or command is about.

`METAMORPH_DATABASES=staging=/srv/stage/metamorph.db,production=/srv/prod/metamorph.db` names
several; without it the one `METAMORPH_DATABASE_PATH` is the database "default". Each database
has its own backup directory (`METAMORPH_BACKUP_DIR/<name>` when several are named). Pages read
the current one with `current()` (set per request by CurrentDatabaseMiddleware from the
session); commands with `from_options()` (`--database NAME` or `--db PATH`, metamorph_admin.cli).
"""

import contextvars
import os
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import CommandError

from metamorph.identity import same_file

DEFAULT_NAME = "default"
SESSION_KEY = "metamorph_database"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")

_current = contextvars.ContextVar("metamorph_database", default=None)


@dataclass(frozen=True)
class Database:
    name: str
    path: str
    backup_dir: str

    @property
    def file_name(self):
        return os.path.basename(self.path)


def confirmation_word(db=None):
    """What a destructive step asks the operator to type: the file name, or, when several
    databases are configured (their files are often all `metamorph.db`), the database's name."""
    db = db or current()
    return db.name if several() else db.file_name


def confirmation_what():
    return "the database name" if several() else "the database file name"


def parse_databases(text, base_dir):
    """'name=path,name=path' -> [(name, absolute path)]; ValueError naming what is wrong,
    e.g. one file given twice (a symlink, a bind mount, `./x/../metamorph.db`)."""
    entries, names = [], set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, path = (s.strip() for s in part.partition("="))
        if not sep or not path:
            raise ValueError(f"{part!r} is not NAME=PATH")
        if not NAME_RE.fullmatch(name):
            raise ValueError(
                f"database name {name!r} must be 1-40 letters, digits, '-', '_' "
                "or '.', starting with a letter or digit"
            )
        path = os.path.abspath(os.path.join(base_dir, path))
        if name in names:
            raise ValueError(f"database name {name!r} is given twice")
        twin = next(((n, p) for n, p in entries if same_file(p, path)), None)
        if twin is not None:
            raise ValueError(
                f"{twin[0]}={twin[1]} and {name}={path} are the same file (a symlink, a bind "
                "mount or a second spelling of one path): one file, one name"
            )
        names.add(name)
        entries.append((name, path))
    return entries


def configured():
    """Every configured database, the default (first) one first."""
    named = getattr(settings, "METAMORPH_DATABASES", None) or []
    if named:
        return [Database(n, p, os.path.join(settings.METAMORPH_BACKUP_DIR, n)) for n, p in named]
    return [Database(DEFAULT_NAME, settings.METAMORPH_DATABASE_PATH, settings.METAMORPH_BACKUP_DIR)]


def several():
    return len(configured()) > 1


def get(name):
    """The configured database called `name`, or None (e.g. removed from the settings)."""
    return next((db for db in configured() if db.name == name), None)


def default():
    return configured()[0]


def configured_at(path):
    """The configured database that is the file at `path` (under any of its names), or None."""
    path = os.path.abspath(path)
    return next((db for db in configured() if db.path == path), None) or next(
        (db for db in configured() if same_file(db.path, path)), None
    )


def for_path(path):
    """The configured database that is the file at `path` (its configured name and path); an
    unnamed file keeps the default backup directory."""
    path = os.path.abspath(path)
    found = configured_at(path)
    return found or Database(os.path.basename(path), path, settings.METAMORPH_BACKUP_DIR)


def current():
    """The database this request (or command) is about: the one switched to, else the default."""
    return _current.get() or default()


def current_database(request):
    """The database the request's session chose (an unknown or removed name: the default)."""
    session = getattr(request, "session", None)
    return (get(session.get(SESSION_KEY)) if session is not None else None) or default()


class CurrentDatabaseMiddleware:
    """Every page of a request works on the session's database (`current()` answers it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A link may name its database (`?database=staging`, e.g. from a rollout's evidence).
        asked = get(request.GET.get("database", "")) if request.method == "GET" else None
        if asked is not None and getattr(request, "session", None) is not None:
            request.session[SESSION_KEY] = asked.name
        db = current_database(request)
        request.metamorph_database = db
        token = _current.set(db)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def from_options(opts):
    """The Database a command's options name; CommandError for an unknown or doubled choice."""
    name, path = opts.get("database"), opts.get("db")
    if name and path:
        raise CommandError("Give --database NAME or --db PATH, not both.")
    if name:
        db = get(name)
        if db is None:
            known = ", ".join(d.name for d in configured())
            raise CommandError(
                f"No database called {name!r} is configured (known: {known}). "
                "Check METAMORPH_DATABASES."
            )
    else:
        db = for_path(path) if path else default()
    if opts.get("dir"):
        db = Database(db.name, db.path, os.path.abspath(opts["dir"]))
    return db
