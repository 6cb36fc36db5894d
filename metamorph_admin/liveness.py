"""Is the process that claimed a job or a lock still alive? (Plain Python, no Django.)

On the same host the answer comes from the process table, with the process start tick so a
reused pid is not taken for the original holder. Another host's process cannot be seen: there
only a heartbeat older than the allowed silence counts as gone.
"""

import os
import socket
from datetime import timedelta

# A holder on another host counts as gone after this long without a heartbeat; holders write
# one every HEARTBEAT_SECONDS, so only a stopped or unreachable process stays silent so long.
HEARTBEAT_SECONDS = 30
STALE_AFTER = timedelta(minutes=5)


def hostname():
    return socket.gethostname()


def process_started(pid):
    """The kernel's start tick of `pid` (field 22 of /proc/PID/stat), "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def this_process():
    """pid, hostname and start tick of the running process, as stored on jobs and locks."""
    pid = os.getpid()
    return {"pid": pid, "hostname": hostname(), "process_started": process_started(pid)}


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] in ("Z", "X")


def pid_alive(pid, started=""):
    """True while `pid` runs on this host (and, when `started` is known, is the same process)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if _zombie(pid):
        return False
    if started:
        now_started = process_started(pid)
        if now_started and now_started != started:
            return False
    return True


def holder_gone(pid, host, started, heartbeat_at, now, stale_after):
    """Whether a holder recorded as (pid, host, started, heartbeat_at) can no longer be running.

    `now` and `heartbeat_at` are aware datetimes; `stale_after` a timedelta.
    """
    if host == hostname():
        return not pid_alive(pid, started)
    if heartbeat_at is None:
        return True
    return now - heartbeat_at > stale_after
