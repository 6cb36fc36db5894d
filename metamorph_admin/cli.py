"""The management commands' common ground: the base class, the --database/--db and --operator
arguments, the typed confirmation. Running a job from a command is metamorph_admin.command_jobs."""

import argparse
import getpass
import os
import sqlite3
import sys

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import DatabaseError

from metamorph.connection import translate_error
from metamorph.errors import MetamorphError
from metamorph.identifiers import shown, shown_lines
from metamorph_admin import admin_db, databases, operators


class OperationCommand(BaseCommand):
    """A command that works on a Metamorph file: it skips Django's system checks, which import
    every view (~0.3 s) and check nothing these commands use; an operator problem (a damaged
    or locked file...) that a command did not turn into its own message becomes one line and
    exit code 1, never a traceback."""

    requires_system_checks: list[str] = []
    epilog = ""  # examples and notes printed after --help's options, as written
    runs_operations = False  # True: it runs jobs, as the dashboard user --operator names

    def create_parser(self, *args, **kwargs):
        parser = super().create_parser(*args, **kwargs)
        if self.epilog:
            parser.epilog = self.epilog
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
        if self.runs_operations:
            add_operator_argument(parser)
        return parser

    def execute(self, *args, **options):
        given = options.pop("stdout", None)  # Django would replace our wrapper with its own
        self.stdout = SafeOutput(OutputWrapper(given) if given else self.stdout)
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            raise CommandError(shown(str(exc)), returncode=exc.returncode) from None
        except MetamorphError as exc:
            raise CommandError(shown(str(exc))) from None
        except sqlite3.DatabaseError as exc:
            message = str(translate_error(exc, _path_or_default(options)))
            raise CommandError(shown(message)) from None
        except DatabaseError as exc:  # the dashboard's own database (jobs, audit), not Metamorph's
            if admin_db.is_write_refusal(exc):
                raise CommandError(admin_db.write_refusal_line()) from None
            raise


class SafeOutput:
    """A command's stdout that escapes control and bidi characters (an odd vault id must not
    rewrite the operator's terminal); JSON output is ASCII already and passes unchanged."""

    def __init__(self, out):
        self._out = out

    def write(self, msg="", style_func=None, ending=None):
        self._out.write(shown_lines(msg), style_func, ending)

    def __getattr__(self, name):
        return getattr(self._out, name)


def absolute_path(value):
    """argparse type: a path made absolute against the working directory (an empty one fails)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path is not a file")
    return os.path.abspath(value)


def positive_int(value):
    """argparse type: a whole number of 1 or more."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return number


def _path_or_default(options):
    try:
        return databases.from_options(options).path
    except CommandError:
        return databases.default().path


def add_db_argument(parser, *, backup_dir=False):
    """--database NAME or --db PATH: the Metamorph file a command works on (and --dir DIR)."""
    names = ", ".join(db.name for db in databases.configured())
    parser.add_argument(
        "--database",
        metavar="NAME",
        help=f"a configured database by name ({names}; default: the first of "
        "METAMORPH_DATABASES, else METAMORPH_DATABASE_PATH)",
    )
    parser.add_argument(
        "--db",
        type=absolute_path,
        metavar="PATH",
        help="a Metamorph database file by path (instead of --database)",
    )
    if backup_dir:
        parser.add_argument(
            "--dir",
            type=absolute_path,
            help="backup directory (default: the database's own, METAMORPH_BACKUP_DIR[/NAME])",
        )


def db_path_from(opts):
    """The absolute path of the Metamorph file the command's options name (an operator's
    --db that names nothing is refused here, with advice about --db, not the settings)."""
    path = databases.from_options(opts).path
    if opts.get("db") and not os.path.lexists(path):
        beside = " (its -wal is there: do not delete it)" if os.path.exists(f"{path}-wal") else ""
        raise CommandError(
            f"No file at {path}, the --db path{beside}. Check the path, or leave --db out to use "
            "the configured database (`--database NAME` picks one of METAMORPH_DATABASES)."
        )
    return path


def backup_dir_from(opts):
    """The backup directory: --dir, else the database's own."""
    return databases.from_options(opts).backup_dir


def os_user():
    """Who ran the command, as the operating system knows them (only for bootstrap commands
    such as createoperator, which run before any dashboard user exists)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers) and no $USER
        return os.environ.get("USER") or f"uid {os.getuid()}"


def add_operator_argument(parser):
    """--operator NAME: the dashboard user a command's operation is attributed to."""
    parser.add_argument(
        "--operator",
        metavar="NAME",
        help=f"the dashboard user running this (default: ${operators.ENV}); operations "
        "are refused without one",
    )


def operator_user(opts, perm, what):
    """The dashboard user --operator / METAMORPH_OPERATOR names, holding `perm`."""
    try:
        return operators.operator_for(opts.get("operator"), perm, what)
    except operators.OperatorRefused as exc:
        raise CommandError(str(exc)) from None


def confirm_typed(db_path, action, yes):
    """A destructive command goes on only once the operator types the database file's name
    (or passed --yes); without a terminal, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            f"{action} changes the live database: run it on a terminal to "
            "confirm, or add --yes once you have read what it does."
        )
    name = os.path.basename(db_path)
    if input(f"{action} on {db_path}. Type {name} to go on: ").strip() != name:
        raise CommandError("Not confirmed: nothing was changed.")
