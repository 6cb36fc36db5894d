"""A report begun before the command that prints it has started up.

`vaultreport --db PATH` spends most of its time on a big file in SQLite's GROUP BYs, and before
its first SQL it spends 0.25-0.8 s importing and setting up Django. The two can run side by side
on two cores: the entry point calls `begin(path)` as soon as it has read `--db` from the command
line, which forks a reader (before any thread or Django exists); the command, once it has parsed
and checked its options the usual way, calls `take(path)`. `take` gives the report only for the
very path the command resolved. A refusal the reader met (a lock held past the busy timeout, a
damaged or odd file) is raised again with the reader's words, as the same read in place would
have raised it, instead of being waited for a second time; anything else (the reader killed,
an error that is not the operator's) gives None and the command reads the file itself.

A process, not a thread: a thread needs Python's lock back after every row SQLite hands it, and
waits up to 5 ms for it each time while Django imports (measured: the counts took 0.82 s instead
of 0.17 s); and two threads importing at once can see each other's half-imported modules. The
reader only reads, through `open_readonly` (mode=ro, query_only), and ends with `os._exit`."""

import atexit
import ctypes
import os
import pickle
import signal

from .errors import MetamorphError
from .shapes import Report

_begun: dict[str, tuple[int, int]] = {}  # path: (pid, read end of its pipe)


def begin(path: str) -> None:
    """Fork a reader of `path`'s report (once per path); nothing when fork is refused."""
    if path in _begun:
        return
    parent = os.getpid()
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: the command reads the file itself
        os.close(read_end)
        os.close(write_end)
        return
    if pid == 0:  # the reader
        os.close(read_end)
        _die_with_parent(parent)
        _read_and_send(path, write_end)
    os.close(write_end)
    _begun[path] = (pid, read_end)


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel SIGKILLs the reader when the command dies, even by SIGKILL. A reader
    left behind would hold a read transaction on Metamorph's file (which, outside WAL, makes
    Metamorph's commits wait) for as long as its counts take."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the exit handler below still stops it
        pass
    if os.getppid() != parent:  # the command died before prctl took effect
        os._exit(0)


def _stop_untaken() -> None:
    """At the command's exit: stop a reader whose report was not taken (an error, --help)."""
    for pid, fd in list(_begun.values()):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        os.close(fd)
    _begun.clear()


atexit.register(_stop_untaken)  # nothing to do unless a reader was begun and never taken


def _read_and_send(path: str, fd: int) -> None:
    try:
        from .report import build_report  # noqa: PLC0415 - in the reader only, beside Django

        try:
            read: tuple[str, object] = ("report", build_report(path))
        except MetamorphError as exc:  # the operator's words: the command says them
            read = ("refused", str(exc))
        data = pickle.dumps(read)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:  # noqa: BLE001 - nothing sent: the command reads the file itself
        pass
    os._exit(0)


def take(path: str) -> Report | None:
    """The report begun for `path` once it is read; None when none was begun for it or the
    reader sent nothing; MetamorphError with the reader's words for a refusal it met."""
    begun = _begun.pop(path, None)
    if begun is None:
        return None
    pid, fd = begun
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        kind, read = pickle.loads(data)
    except Exception:  # noqa: BLE001 - nothing or cut short (the reader was killed): read again
        return None
    if kind == "refused":
        raise MetamorphError(read)
    return read


def db_option(argv: list[str]) -> str | None:
    """The value of `--db PATH` or `--db=PATH` among a command's arguments, as written; None
    also when an option bounds the report (--timeout, --integrity or an abbreviation of them):
    the command then reads the file itself, as those options say."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        bounds = "--timeout".startswith(name) or "--integrity".startswith(name)
        if bounds and len(name) > 2 and name != "--top":
            return None
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--db="):
            return arg.removeprefix("--db=")
    return None
