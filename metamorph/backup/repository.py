"""The off-host backup repository: BorgBackup, run as a subprocess (`--json`, `--log-json`).

Borg encrypts (repokey-blake2) and deduplicates with a chunker we tune to SQLite's pages;
restic's fixed ~1 MiB chunks stored 3.5x more per daily backup of a Metamorph file
(docs/backups-offsite.md). The password reaches borg through an inherited file descriptor
(BORG_PASSPHRASE_FD): never argv, an environment value, a log or a result. Every failure
becomes a `RepositoryError` with one line naming the cause and the fix.
"""

import json
import os
import re
import stat
import subprocess
import time
from dataclasses import dataclass

from metamorph.errors import MetamorphError

BORG = os.environ.get("METAMORPH_BORG", "borg")
REPOSITORY_VAR = "METAMORPH_BACKUP_REPOSITORY"
PASSWORD_VAR = "METAMORPH_BACKUP_PASSWORD_FILE"
# One chunk per SQLite page (fixed 4 KiB, aligned with the file's pages): a changed page costs
# one chunk and an unchanged one nothing, where any content-defined cut (even ~8 KiB) also
# re-stores its neighbours. Measured on a 160 MB file (docs/backups-offsite.md): 1 % appended
# rows add 3.0 % of the file (buzhash ~8 KiB: 6.0 %; borg's default: 43 %; restic: 33 %), and
# 14 daily backups take 1.05x one file (buzhash ~8 KiB: 1.51x).
CHUNKER = "fixed,4096"
COMPRESSION = "lz4"
ENCRYPTION = "repokey-blake2"
# Several databases' backups and the scheduled check share one repository: each waits for the
# other's lock instead of failing. borg sleeps a tenth of --lock-wait between its tries (60 s
# for 600), so borg waits 10 s at a time (1 s sleeps) and we try again until this bound.
LOCK_WAIT_SECONDS = 600
_BORG_LOCK_WAIT = 10
# borg's repository addresses: /abs/path, ssh://[user@]host[:port]/path, [user@]host:path.
_ADDRESS = re.compile(r"^(?:/\S*|ssh://[^/\s]+/\S+|(?:[^@/:\s]+@)?[^@/:\s]+:\S*)$")


class RepositoryError(MetamorphError):
    """The repository refused or failed; the message names the cause and the fix."""


def check_settings(url, password_file):
    """Refuse an unusable METAMORPH_BACKUP_REPOSITORY / _PASSWORD_FILE pair (one line each)."""
    if not _ADDRESS.match(url) or "://" in url and not url.startswith("ssh://"):
        raise RepositoryError(
            f"{REPOSITORY_VAR}={url!r} is not a repository address borg can open: write an "
            "absolute directory (/srv/backups/metamorph) or ssh://user@host:22/srv/backups."
        )
    if not password_file:
        raise RepositoryError(
            f"{REPOSITORY_VAR} is set but {PASSWORD_VAR} is not: set it to a file (mode 0600) "
            "holding the repository's password."
        )
    try:
        info = os.stat(password_file)
    except OSError as exc:
        raise RepositoryError(
            f"{PASSWORD_VAR}={password_file} cannot be read ({exc.strerror}): create it with "
            "the repository's password and `chmod 600` it."
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise RepositoryError(f"{PASSWORD_VAR}={password_file} is not a file: name the file.")
    if info.st_mode & stat.S_IROTH:
        raise RepositoryError(
            f"{PASSWORD_VAR}={password_file} is readable by every user of this host: "
            f"`chmod 600 {password_file}` (it opens every backup, OAuth tokens included)."
        )


@dataclass
class Repository:
    """One borg repository: `url`, its password in `password_file`, how to reach it."""

    url: str
    password_file: str
    rsh: str = ""  # BORG_RSH, e.g. "ssh -i /srv/keys/backup -o BatchMode=yes"
    base_dir: str = ""  # BORG_BASE_DIR: borg's cache and security files (default ~)
    timeout: float | None = None

    def _env(self, fd):
        # borg's own places (BORG_BASE_DIR...) and its self-test switch pass through; a
        # passphrase variable never does
        env = {k: v for k, v in os.environ.items() if not k.startswith("BORG_") or k in _PASSED}
        env.update(
            BORG_REPO=self.url,
            BORG_PASSPHRASE_FD=str(fd),
            BORG_RELOCATED_REPO_ACCESS_IS_OK="no",
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
            BORG_RSH=self.rsh or "ssh -o BatchMode=yes -o ConnectTimeout=15",
            TZ="UTC",  # borg writes archive times in local time, without a zone
        )
        if self.base_dir:
            env["BORG_BASE_DIR"] = self.base_dir
        return env

    def run(self, *args, cwd=None, ok=(0, 1)):
        """borg `args` on the repository; (stdout, stderr); a RepositoryError on failure.

        `ok`: the exit codes that mean success (1 is "finished with warnings", except for
        `borg check`, where it means errors were found)."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                return self._run_once(args, cwd, ok)
            except RepositoryError as exc:
                if not str(exc).endswith(_LOCKED) or time.monotonic() > deadline:
                    raise

    def _run_once(self, args, cwd, ok):
        try:
            fd = os.open(self.password_file, os.O_RDONLY)
        except OSError as exc:
            raise RepositoryError(
                f"{PASSWORD_VAR}={self.password_file} cannot be read ({exc.strerror})."
            ) from None
        try:
            done = subprocess.run(
                [BORG, "--lock-wait", str(_BORG_LOCK_WAIT), *args],
                env=self._env(fd),
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=cwd,
                timeout=self.timeout,
            )
        except FileNotFoundError:
            raise RepositoryError(
                "borg is not installed: `make run` installs it (scripts/apt-install borgbackup)."
            ) from None
        except subprocess.TimeoutExpired:
            raise RepositoryError(
                f"borg {args[0]} on {self.url} did not finish in {self.timeout:g} s: check the "
                "network to the repository, then run it again."
            ) from None
        finally:
            os.close(fd)
        if done.returncode not in ok:
            raise RepositoryError(explain(self.url, args[0], done.stderr or done.stdout))
        return done.stdout, done.stderr

    def run_json(self, *args, cwd=None):
        return json.loads(self.run(*args, "--json", cwd=cwd)[0] or "null")

    def init(self):
        """Create the repository (encrypted; its parent directories too)."""
        self.run("init", "--encryption", ENCRYPTION, "--make-parent-dirs")

    def run_json_creating(self, *args, cwd=None):
        """`run_json(*args)`, the repository created first when it does not exist yet: one
        borg run where a backup used to take two (each opens the key: ~1 s here, and over
        ssh one connection more)."""
        try:
            return self.run_json(*args, cwd=cwd)
        except RepositoryError as exc:
            if not str(exc).startswith(NO_REPOSITORY):
                raise
        self.init()
        return self.run_json(*args, cwd=cwd)


NO_REPOSITORY = "There is no repository at"
_LOCKED = "another borg run holds the repository's lock; try again when it has finished."
_PLACES = {
    "BORG_BASE_DIR",
    "BORG_CACHE_DIR",
    "BORG_CONFIG_DIR",
    "BORG_SECURITY_DIR",
    "BORG_KEYS_DIR",
}
# BORG_SELFTEST=disabled skips the self-tests borg runs at each start (~0.07 s of ~0.3 s here):
# borg's documented switch, for whoever runs it often; not set by us, only respected.
_PASSED = _PLACES | {"BORG_SELFTEST"}


def explain(url, command, stderr):
    """One line for a failed borg run, naming the variable and the fix."""
    lines = _messages(stderr)
    text = _cause(lines)
    lowered = " ".join(lines).lower()
    if "passphrase supplied" in lowered and "is incorrect" in lowered:
        return (
            f"The repository at {url} does not open with the password in {PASSWORD_VAR} (it "
            f"was initialised with another one): point {PASSWORD_VAR} at its password file, "
            f"or {REPOSITORY_VAR} at a new repository."
        )
    if "does not exist" in lowered and "repository" in lowered:
        return f"{NO_REPOSITORY} {url} ({REPOSITORY_VAR}): `backupdb` creates it on first use."
    if "is not a valid repository" in lowered:
        return (
            f"{REPOSITORY_VAR}={url} is a directory that is not a borg repository: name an "
            "empty or new directory, or the repository itself."
        )
    if any(s in lowered for s in ("no space left", "insufficient free space", "disk quota")):
        return (
            f"The repository at {url} is full (no space left on its disk): free space there or "
            "forget old archives (`backupdb --keep-daily N`); the local copy is kept."
        )
    if any(s in lowered for s in _UNREACHABLE):
        ssh_said = _cause([x for x in lines if any(k in x.lower() for k in _UNREACHABLE[1:])])
        return (
            f"The repository's server cannot be reached ({REPOSITORY_VAR}={url}): "
            f"{_sentence(ssh_said or text)} Check that it is up and that ssh to it works; the local copy is "
            "kept."
        )
    if any(s in lowered for s in _DAMAGED):
        return (
            f"The repository at {url} is damaged ({_short(text)}): run `borg check --repair` "
            "there after reading its docs, or start a new repository; the local copies are kept."
        )
    if "failed to create/acquire the lock" in lowered:
        return f"borg {command} on {url}: {_LOCKED}"
    if "invalid location" in lowered or "invalid repository" in lowered:
        return f"{REPOSITORY_VAR}={url} is not an address borg understands: write /abs/path or ssh://user@host/path."
    return f"borg {command} failed on {url}: {_sentence(text)}"


_UNREACHABLE = (
    "connection closed by remote host",
    "connection refused",
    "could not resolve",
    "timed out",
    "no route to host",
    "network is unreachable",
    "connection reset",
    "permission denied (publickey",
)
_DAMAGED = (
    "integrity error",
    "checksum mismatch",
    "crc32",
    "segment",
    "corrupt",
    "object with key",
    "index object count mismatch",
)


def _messages(stderr):
    """The text of borg's output: the messages of --log-json lines, other lines as they are."""
    out = []
    for line in (stderr or "").splitlines():
        line = line.strip()
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            if entry.get("type") == "log_message" and entry.get("levelname") in (
                "ERROR",
                "CRITICAL",
                "WARNING",
            ):
                out.append(str(entry.get("message", "")))
        elif line and not line.startswith("Traceback") and not line.startswith("File "):
            out.append(line)
    return out


def _cause(lines):
    """The line that says what went wrong: the first naming an error, else the last one."""
    found = next((x for x in lines if "error" in x.lower() or "mismatch" in x.lower()), None)
    found = found or (lines[-1] if lines else "")
    return found.removeprefix("Remote: ").strip().rstrip(".")[:300]


def _short(text):
    return text or "no message"


def _sentence(text):
    text = _short(text)
    return text if text.endswith(("?", "!")) else text + "."
