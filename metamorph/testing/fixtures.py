"""pytest plugin: `metamorph_writer` starts real Metamorph-like writer processes.

Registered in the root conftest (`pytest_plugins`). Every writer a test starts is stopped at
teardown, so a failing test never leaves a process writing.
"""

import shutil
import subprocess
from typing import Any

import pytest

from .sshd import SshServer
from .writer import MetamorphWriter


@pytest.fixture
def metamorph_writer(tmp_path):
    """start(db_path, journal_mode=None, interval=0.01, ...) -> a running MetamorphWriter.

    Its first transaction has committed when start() returns; `writer.stop()` returns the
    WriterReport (committed ids, waits, errors).
    """
    started: list[Any] = []

    def start(db_path, **options):
        log_dir = tmp_path / f"writer-{len(started)}"
        writer = MetamorphWriter(str(db_path), str(log_dir), **options)
        started.append(writer)
        return writer.start()

    yield start
    for writer in started:
        writer.stop()


@pytest.fixture
def read_only_folder(tmp_path):
    """make(folder) -> a read-only bind mount of `folder` (a real EROFS filesystem, as an
    operator's read-only volume is); skipped where this process may not mount (not root)."""
    mounts: list[str] = []

    def make(folder):
        target = tmp_path / f"read-only-{len(mounts)}"
        target.mkdir()
        for args in (["--bind", str(folder), str(target)], ["-o", "remount,ro,bind", str(target)]):
            done = subprocess.run(["mount", *args], capture_output=True, text=True)
            if done.returncode != 0:
                if mounts or args[0] == "-o":
                    subprocess.run(["umount", str(target)], capture_output=True)
                pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
        mounts.append(str(target))
        return target

    yield make
    for target in reversed(mounts):
        subprocess.run(["umount", target], capture_output=True)


@pytest.fixture
def ssh_server(tmp_path):
    """A throw-away OpenSSH server on 127.0.0.1 (its own keys, config and free port)."""
    server = SshServer(str(tmp_path / "sshd")).start()
    yield server
    server.stop()


BORG_PASSWORD = "correct horse battery staple\n"


def _password_file(path):
    path.write_text(BORG_PASSWORD)
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def borg_password(tmp_path):
    """A 0600 password file for a test repository."""
    return _password_file(tmp_path / "repository-password")


@pytest.fixture(scope="session")
def _empty_repository(tmp_path_factory):
    """One repository per test process, created by the product's own `Repository.init` with
    borg_password's password. Creating one takes two borg runs (~0.8 s here): a test that is not
    about creating a repository starts from a copy of this one (`initialised_repository`)."""
    from metamorph.backup.repository import Repository  # noqa: PLC0415 - borg tests only

    base = tmp_path_factory.mktemp("empty-repository")
    repo = base / "repo"
    Repository(str(repo), _password_file(base / "password"), base_dir=str(base / "home")).init()
    return repo


@pytest.fixture
def initialised_repository(_empty_repository):
    """copy_to(path): an empty repository (borg_password's password) at `path`, returned. Its
    copies share one repository id; each test has borg caches of its own (BORG_BASE_DIR)."""

    def copy_to(path):
        shutil.copytree(_empty_repository, path, symlinks=True)
        return path

    return copy_to
