"""The dashboard's database away (PostgreSQL stopped or restarted, the network cut) while an
agent runs: one warning line when the outage starts and one when it ends, whichever thread
notices first; a job's progress is dropped meanwhile, its result and its lock's release wait
for the database and are written once it answers again, unless the agent is told to stop
(SIGTERM): then nothing waits for it."""

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
_stopping = False  # set by the agent's SIGTERM handler: a plain flag, no lock to take there


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


def stop_waiting() -> None:
    """The process is told to stop (the agent's SIGTERM): until_back stops retrying."""
    global _stopping
    _stopping = True


def until_back(write):
    """`write()`, retried every RETRY_SECONDS for as long as the database is away: for what
    must not be lost (a job's end, its lock's release). Once the process is told to stop, the
    outage's error is raised instead: an agent stopped during an outage stops within seconds,
    and the dashboard marks its job interrupted once the database answers."""
    while True:
        try:
            result = write()
        except OUTAGE_ERRORS as exc:
            if not is_outage(exc):
                raise
            noticed(exc)
            if _stopping:
                raise
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
