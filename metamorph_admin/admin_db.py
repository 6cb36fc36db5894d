"""The dashboard's own database (SQLite on one host, PostgreSQL for several): is it reachable,
and if not, one line that names where it is and why not (never the password)."""

from django.db import DatabaseError, connection


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
