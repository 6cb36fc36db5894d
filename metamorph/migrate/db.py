"""Small shared pieces of the engine: opening for reading, schema_migrations, migration ids."""

import sqlite3

from metamorph import schema
from metamorph.connection import open_readonly
from metamorph.errors import InterruptedWrite

from .definitions import BY_ID, MIGRATIONS
from .errors import UnknownMigration


def open_for_reading(path):
    """open_readonly, plus a clear error when a killed writer left a hot journal behind."""
    try:
        return open_readonly(path)
    except sqlite3.OperationalError as exc:
        # A read-only connection may not roll the journal back, so SQLite refuses to read.
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
            raise InterruptedWrite(path) from None
        raise


def table_names(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def count_rows(conn):
    """{table: rows} for every table in the file (sqlite_ tables aside)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: conn.execute(f"SELECT COUNT(*) FROM {schema.quote(t)}").fetchone()[0] for t in names}


def applied_rows(conn):
    """{id: {"applied_at", "checksum"}} from schema_migrations ({} when it does not exist)."""
    if "schema_migrations" not in table_names(conn):
        return {}
    rows = conn.execute("SELECT id, applied_at, checksum FROM schema_migrations ORDER BY id")
    return {r[0]: {"applied_at": r[1], "checksum": r[2]} for r in rows}


def resolve(migration_id):
    """The Migration named by its id or its number ("001"); UnknownMigration otherwise."""
    if migration_id in BY_ID:
        return BY_ID[migration_id]
    by_number = [m for m in MIGRATIONS if m.number == str(migration_id)]
    if len(by_number) == 1:
        return by_number[0]
    raise UnknownMigration(migration_id, [m.id for m in MIGRATIONS])
