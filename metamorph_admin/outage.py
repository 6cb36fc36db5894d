"""The dashboard's database away (PostgreSQL stopped or restarted, the network cut) while an
agent runs: one warning line when the outage starts and one when it ends, whichever thread
notices first; a job's progress is dropped meanwhile, its result and its lock's release wait
for the database and are written once it answers again."""

import logging
import threading
import time

from django.db import InterfaceError, OperationalError, connection

from metamorph_admin.admin_db import unreachable_line

logger = logging.getLogger(__name__)

# What a stopped server or a cut connection raises (a refused login too: it may come back).
OUTAGE_ERRORS = (OperationalError, InterfaceError)
RETRY_SECONDS = 1.0

_lock = threading.Lock()
_since: list[float] = []  # the outage's start (monotonic), while there is one


def noticed(exc: BaseException) -> None:
    """The database did not answer: drop this thread's connection (the next query opens a
    new one) and say so, once per outage."""
    connection.close()
    with _lock:
        if _since:
            return
        _since.append(time.monotonic())
    logger.warning(
        "%s The agent goes on with the file and retries every %g s; job results wait for it.",
        unreachable_line(exc),
        RETRY_SECONDS,
    )


def answered() -> None:
    """The database answered a query: the end of an outage, if there was one, said once."""
    with _lock:
        if not _since:
            return
        lasted = time.monotonic() - _since.pop()
    logger.warning(
        "The dashboard's database answers again after %.0f s: job results are recorded.", lasted
    )


def is_outage(exc: BaseException) -> bool:
    """A database server away, not a refusal: a SQLite file on this host is never "away" (its
    errors, a read-only volume or a lock, keep their own handling)."""
    return isinstance(exc, OUTAGE_ERRORS) and connection.vendor != "sqlite"


def until_back(write):
    """`write()`, retried every RETRY_SECONDS for as long as the database is away: for what
    must not be lost (a job's end, its lock's release)."""
    while True:
        try:
            result = write()
        except OUTAGE_ERRORS as exc:
            if not is_outage(exc):
                raise
            noticed(exc)
            time.sleep(RETRY_SECONDS)
            continue
        answered()
        return result


def or_skip(write) -> bool:
    """`write()` once; False (and nothing raised) when the database is away: for what the next
    write repeats anyway (progress, a heartbeat)."""
    try:
        write()
    except OUTAGE_ERRORS as exc:
        if not is_outage(exc):
            raise
        noticed(exc)
        return False
    answered()
    return True
