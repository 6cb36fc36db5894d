"""The off-host repository with the real borg: a local one and one behind a real sshd."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from metamorph import backup
from metamorph.backup import offsite, repository
from metamorph.backup.repository import Repository, RepositoryError, check_settings
from metamorph.testing.repository import corrupt_largest_segment

from .conftest import sha256

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/borg"), reason="borg missing: make test installs borgbackup"
)


@pytest.fixture
def new_repo(tmp_path, borg_password):
    """A repository not created yet (the first backup creates it)."""
    return Repository(str(tmp_path / "repo"), borg_password, base_dir=str(tmp_path / "borg-home"))


@pytest.fixture
def local_repo(new_repo, initialised_repository):
    """An empty repository, created (a copy of one the product's init made)."""
    initialised_repository(new_repo.url)
    return new_repo


@pytest.fixture
def verified(source, backup_dir):
    return backup.run_backup(source, backup_dir, label="nightly, {odd} label")


def over_ssh(server, path, password_file, tmp_path):
    """The repository at `path` of the test's sshd, reached with its throw-away key."""
    return Repository(
        server.url(path), password_file, rsh=server.rsh, base_dir=str(tmp_path / "borg-home")
    )


def _round_trip(repo, verified, backup_dir):
    stored = offsite.store_backup(repo, "default", verified["path"], verified)
    assert stored["archive"] == f"default.{verified['name']}"
    assert 0 < stored["added_bytes"] <= stored["original_bytes"] + 4096
    (snapshot,) = offsite.list_snapshots(repo, "default")
    assert (snapshot.backup_name, snapshot.sha256) == (verified["name"], verified["sha256"])
    assert snapshot.label == "nightly, (odd) label"
    checked = offsite.check_snapshot(repo, snapshot, backup_dir)
    assert checked["restorable"], checked["message"]
    assert checked["message"] == "restored: sha256 matches the manifest, quick_check ok"
    os.unlink(verified["path"])
    os.unlink(verified["manifest_path"])
    assert offsite.place_locally(repo, snapshot, backup_dir) == verified["name"]
    assert sha256(verified["path"]) == verified["sha256"]
    (entry,) = backup.list_backups(backup_dir)
    assert (entry["name"], entry["state"]) == (verified["name"], "verified")
    assert sorted(os.listdir(backup_dir)) == [verified["name"], verified["name"] + ".json"]


def test_local_repository_round_trip_is_byte_exact_against_the_manifest(
    local_repo, verified, backup_dir
):
    _round_trip(local_repo, verified, backup_dir)
    offsite.check_repository(local_repo)


def test_repository_behind_sshd_round_trip(
    ssh_server, tmp_path, borg_password, verified, backup_dir
):
    repo = over_ssh(ssh_server, tmp_path / "remote" / "repo", borg_password, tmp_path)
    _round_trip(repo, verified, backup_dir)
    assert os.path.isfile(tmp_path / "remote" / "repo" / "config")


def test_a_backup_runs_borg_once_and_twice_more_only_to_create_the_repository(
    new_repo, source, backup_dir, tmp_path, monkeypatch
):
    """Each borg run opens the key (~1 s here) and, over ssh, a connection: a backup into an
    existing repository is one `borg create`, whose output also gives the repository's size."""
    runs = tmp_path / "borg-runs"
    wrapper = tmp_path / "borg-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$3" >> {runs}\nexec /usr/bin/borg "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(repository, "BORG", str(wrapper))

    first = backup.run_backup(source, backup_dir)
    offsite.store_backup(new_repo, "default", first["path"], first)
    assert runs.read_text().split() == ["create", "init", "create"]
    assert os.path.isfile(os.path.join(new_repo.url, "config"))

    runs.unlink()
    second = backup.run_backup(source, backup_dir)
    stored = offsite.store_backup(new_repo, "default", second["path"], second)
    assert runs.read_text().split() == ["create"]
    assert stored["repository_bytes"] == offsite.repository_size(new_repo) > 0
    assert len(offsite.list_snapshots(new_repo, "default")) == 2


def test_borg_gets_its_places_and_self_test_switch_but_no_passphrase_variable(
    local_repo, verified, tmp_path, monkeypatch
):
    seen = tmp_path / "borg-env"
    wrapper = tmp_path / "borg-wrapper"
    wrapper.write_text(f'#!/bin/sh\nenv | grep ^BORG_ | sort >> {seen}\nexec /usr/bin/borg "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(repository, "BORG", str(wrapper))
    monkeypatch.setenv("BORG_SELFTEST", "disabled")
    monkeypatch.setenv("BORG_PASSPHRASE", "leaked-from-the-shell")
    monkeypatch.setenv("BORG_PASSCOMMAND", "echo leaked")

    offsite.store_backup(local_repo, "default", verified["path"], verified)
    lines = seen.read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines}
    assert "BORG_SELFTEST=disabled" in lines
    assert {"BORG_PASSPHRASE", "BORG_PASSCOMMAND"}.isdisjoint(names), names
    assert not any("leaked" in line for line in lines)
    assert {"BORG_REPO", "BORG_PASSPHRASE_FD", "BORG_BASE_DIR"} <= names


def test_second_backup_of_an_unchanged_file_adds_almost_nothing(local_repo, source, backup_dir):
    first = backup.run_backup(source, backup_dir)
    offsite.store_backup(local_repo, "default", first["path"], first)
    second = backup.run_backup(source, backup_dir)
    stored = offsite.store_backup(local_repo, "default", second["path"], second)
    assert stored["added_bytes"] < 0.05 * second["backup_size_bytes"]


def test_wrong_password_names_the_variable_and_the_fix(local_repo, verified, tmp_path):
    offsite.store_backup(local_repo, "default", verified["path"], verified)
    other = tmp_path / "other-password"
    other.write_text("not the one\n")
    other.chmod(0o600)
    wrong = Repository(local_repo.url, str(other), base_dir=local_repo.base_dir)

    with pytest.raises(RepositoryError) as err:
        offsite.store_backup(wrong, "default", verified["path"], verified)
    assert str(err.value) == (
        f"The repository at {local_repo.url} does not open with the password in "
        "METAMORPH_BACKUP_PASSWORD_FILE (it was initialised with another one): point "
        "METAMORPH_BACKUP_PASSWORD_FILE at its password file, or METAMORPH_BACKUP_REPOSITORY "
        "at a new repository."
    )
    assert os.path.exists(verified["path"])


def test_unreachable_server_is_one_line(tmp_path, borg_password, verified, ssh_server):
    ssh_server.stop()
    repo = over_ssh(ssh_server, tmp_path / "repo", borg_password, tmp_path)
    with pytest.raises(RepositoryError) as err:
        offsite.store_backup(repo, "default", verified["path"], verified)
    message = str(err.value)
    assert message.startswith(
        "The repository's server cannot be reached (METAMORPH_BACKUP_REPOSITORY=ssh://"
    )
    # ssh's own words ("Connection refused") when borg read them before ssh exited
    assert message.endswith("Check that it is up and that ssh to it works; the local copy is kept.")
    assert "\n" not in message and "?." not in message
    assert os.path.exists(verified["path"])


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs, mounted for this test only (needs root, as `make test` runs here)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.fail("mounting a small tmpfs failed: this test needs root (mount -t tmpfs)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_remote_disk_is_one_line_and_keeps_the_local_copy(
    ssh_server, small_disk, borg_password, metamorph_db, backup_dir, tmp_path
):
    big = metamorph_db(state="migrated", sessions=600, vaults=4)
    verified = backup.run_backup(big, backup_dir)
    repo = over_ssh(ssh_server, small_disk / "repo", borg_password, tmp_path)
    with pytest.raises(RepositoryError) as err:
        offsite.store_backup(repo, "default", verified["path"], verified)
    assert str(err.value).startswith(
        f"The repository at {repo.url} is full (no space left on its disk): free space there"
    )
    assert "\n" not in str(err.value)
    assert backup.list_backups(backup_dir)[0]["state"] == "verified"


def test_corrupted_segment_fails_the_check_and_the_restore_with_one_line(
    local_repo, verified, backup_dir
):
    offsite.store_backup(local_repo, "default", verified["path"], verified)
    corrupt_largest_segment(local_repo.url)

    with pytest.raises(RepositoryError) as err:
        offsite.check_repository(local_repo)
    assert str(err.value).startswith(
        f"The repository at {local_repo.url} is damaged (Data integrity error: Segment entry "
        "checksum mismatch [segment"
    )
    assert "\n" not in str(err.value)
    (snapshot,) = offsite.list_snapshots(local_repo, "default")
    checked = offsite.check_snapshot(local_repo, snapshot, backup_dir)
    assert not checked["restorable"]
    assert checked["message"].startswith(f"The repository at {local_repo.url} is damaged (")
    assert sha256(verified["path"]) == verified["sha256"]


_STORE = """
import json, sys
from metamorph.backup import offsite
from metamorph.backup.repository import Repository, RepositoryError
m = json.load(open(sys.argv[1]))
repo = Repository(sys.argv[2], sys.argv[3], base_dir=sys.argv[4])
try:
    offsite.store_backup(repo, "default", m["path"], m)
except RepositoryError as exc:
    print(exc)
"""


def _borg_create_pid(repo_dir):
    """The pid of the `borg create` writing to *this* repository (its BORG_REPO), once it
    holds the repository's lock; None before. Another borg on the machine is never matched."""
    if not os.path.isdir(os.path.join(repo_dir, "lock.exclusive")):
        return None
    ours = f"BORG_REPO={repo_dir}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
        except OSError:
            continue
        if ours in environ and b"create" in argv and any(a.endswith(b"borg") for a in argv[:2]):
            return int(pid)
    return None


def test_sigkill_during_the_upload_leaves_a_consistent_repository(
    local_repo, metamorph_db, backup_dir, tmp_path
):
    big = metamorph_db(state="migrated", sessions=3000, vaults=4)
    verified = backup.run_backup(big, backup_dir)
    manifest_json = tmp_path / "m.json"
    manifest_json.write_text(json.dumps(verified))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _STORE,
            str(manifest_json),
            local_repo.url,
            local_repo.password_file,
            local_repo.base_dir,
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while (pid := _borg_create_pid(local_repo.url)) is None:
        assert child.poll() is None, "the store finished before borg could be killed"
        assert time.monotonic() < deadline, "borg create never took the repository's lock"
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    said, _ = child.communicate(timeout=120)
    assert said.startswith(f"borg create failed on {local_repo.url}"), said

    local_repo.run("check", ok=(0,))  # borg's own full check; the dead pid's lock is broken
    stored = offsite.store_backup(local_repo, "default", verified["path"], verified)
    assert [s.archive for s in offsite.list_snapshots(local_repo, "default")] == [stored["archive"]]
    local_repo.run("check", ok=(0,))


def test_retention_drops_older_archives_by_policy(local_repo, source, backup_dir):
    names = []
    for _ in range(3):
        m = backup.run_backup(source, backup_dir)
        offsite.store_backup(local_repo, "default", m["path"], m)
        names.append(f"default.{m['name']}")
        time.sleep(1.1)  # borg's archive times have one-second resolution: keep them apart
    policy = offsite.RetentionPolicy(daily=1)
    assert sorted(offsite.retention(local_repo, "default", policy)) == sorted(names[:2])
    assert len(offsite.list_snapshots(local_repo, "default")) == 3  # a dry run drops nothing
    assert sorted(offsite.retention(local_repo, "default", policy, dry_run=False)) == sorted(
        names[:2]
    )
    assert [s.archive for s in offsite.list_snapshots(local_repo, "default")] == [names[2]]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("relative/dir", "METAMORPH_BACKUP_REPOSITORY='relative/dir' is not a repository address"),
        ("sftp://host/x", "METAMORPH_BACKUP_REPOSITORY='sftp://host/x' is not a repository"),
        ("", "METAMORPH_BACKUP_REPOSITORY='' is not a repository address"),
    ],
)
def test_unparsable_repository_address_is_refused(url, expected, borg_password):
    with pytest.raises(RepositoryError) as err:
        check_settings(url, borg_password)
    assert str(err.value).startswith(expected)


def test_password_file_missing_or_world_readable_is_refused(tmp_path, borg_password):
    with pytest.raises(RepositoryError) as err:
        check_settings("/srv/repo", str(tmp_path / "nope"))
    assert str(err.value).startswith(
        f"METAMORPH_BACKUP_PASSWORD_FILE={tmp_path / 'nope'} cannot be read"
    )
    os.chmod(borg_password, 0o644)
    with pytest.raises(RepositoryError) as err:
        check_settings("/srv/repo", borg_password)
    assert str(err.value) == (
        f"METAMORPH_BACKUP_PASSWORD_FILE={borg_password} is readable by every user of this "
        f"host: `chmod 600 {borg_password}` (it opens every backup, OAuth tokens included)."
    )
    os.chmod(borg_password, 0o600)
    check_settings("ssh://backup@host.example:2222/srv/repo", borg_password)
    check_settings("backup@host.example:/srv/repo", borg_password)


def test_next_run_drops_what_borg_prune_then_really_drops(local_repo, tmp_path):
    """The Backups page's "dropped by the next run" is borg's own rule, checked against borg."""
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "metamorph.db").write_bytes(b"x" * 100)
    days = [f"2026-11-{d:02d}T03:15:00" for d in (1, 2, 8, 9, 15, 16, 30)]

    def archive_at(when):
        name = f"default.metamorph-backup-{when[:10].replace('-', '')}-031500.db"
        local_repo.run(
            "create",
            "--timestamp",
            when,
            "--comment",
            "sha256=x label=",
            f"::{name}",
            "metamorph.db",
            cwd=str(stage),
        )
        return name

    for when in days[:-1]:
        archive_at(when)
    policy = offsite.RetentionPolicy(daily=2, weekly=2, monthly=1)
    snapshots = offsite.list_snapshots(local_repo, "default")
    predicted = offsite.next_run_drops(
        snapshots, policy, datetime.fromisoformat(days[-1]).replace(tzinfo=UTC)
    )
    archive_at(days[-1])
    dropped = offsite.retention(local_repo, "default", policy, dry_run=False)
    assert predicted and sorted(predicted) == sorted(dropped)
