"""backupdb, checkbackups and restorebackup --archive with a real borg repository, as an
operator runs them (real manage.py subprocesses), a local one and one behind a real sshd."""

import hashlib
import os
import sqlite3

import pytest

from metamorph.backup import list_backups, offsite
from metamorph.backup.repository import Repository
from metamorph.testing.fixtures import BORG_PASSWORD
from metamorph.testing.repository import corrupt_largest_segment
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db
from migrations_ui.tests.repository_helpers import empty_table

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/borg"), reason="borg missing: make test installs borgbackup"
)
PASSWORD = BORG_PASSWORD.strip()  # borg_password's, which the repositories open with


@pytest.fixture
def run(tmp_path, borg_password, initialised_repository):
    """manage.py with a repository configured: an empty one, created (the first backup's
    creating it is metamorph/tests/backup/test_repository.py's and the e2e journey's)."""
    admin = migrated_admin_db(tmp_path)
    backups = tmp_path / "backups"
    repo = initialised_repository(tmp_path / "repo")

    def call(*args, **env):
        return manage(
            *args,
            env={
                "DATABASE_URL": f"sqlite:///{admin}",
                "METAMORPH_BACKUP_DIR": str(backups),
                "METAMORPH_BACKUP_REPOSITORY": str(repo),
                "METAMORPH_BACKUP_PASSWORD_FILE": borg_password,
                "BORG_BASE_DIR": str(tmp_path / "borg-home"),
                **env,
            },
            timeout=300,
        )

    call.admin, call.backups, call.repo = admin, backups, repo
    return call


def recorded_size_is_borgs(run, borg_password):
    """The repository size the dashboard recorded is what `borg info` says now."""
    conn = sqlite3.connect(f"file:{run.admin}?mode=ro", uri=True)
    try:
        (recorded,) = conn.execute("SELECT size_bytes FROM metamorph_admin_repositorystate")
    finally:
        conn.close()
    home = str(run.repo.parent / "borg-home")
    return recorded[0] == offsite.repository_size(
        Repository(str(run.repo), borg_password, base_dir=home)
    )


def archive_of(path, backup):
    """The archive name backupdb gives a backup of a file named by --db (database = basename)."""
    return f"{os.path.basename(path)}.{backup['name']}"


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def counts(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    finally:
        conn.close()


def test_backup_check_and_restore_from_the_repository_round_trip(run, metamorph_db, borg_password):
    path = metamorph_db("migrated")
    before = counts(path)
    made = run("backupdb", "--db", path, "--label", "before the move")
    assert made.returncode == 0, made.stderr
    assert recorded_size_is_borgs(run, borg_password)  # from borg create's own output
    (local,) = list_backups(run.backups)
    archive = archive_of(path, local)
    assert f"stored in the repository as {archive}: added " in made.stdout

    checked = run("checkbackups", "--db", path)
    assert checked.returncode == 0, checked.stderr
    assert (
        f"{archive}: restorable: restored: sha256 matches the manifest, quick_check ok"
        in checked.stdout
    )
    listed = run("checkbackups", "--db", path, "--list")
    assert archive in listed.stdout and "restorable" in listed.stdout

    os.unlink(local["path"])
    os.unlink(local["path"] + ".json")
    empty_table(path, "sessions")
    restored = run("restorebackup", "--db", path, "--archive", archive, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert f"Restored {local['name']}" in restored.stdout
    assert counts(path) == before
    assert digest(local["path"]) == local["sha256"]  # fetched back, byte-exact
    for text in (made.stdout + made.stderr, checked.stdout, restored.stdout + restored.stderr):
        assert PASSWORD not in text
    assert PASSWORD.encode() not in run.admin.read_bytes()


def test_retention_and_keep_local_after_storing(run, metamorph_db, borg_password):
    path = metamorph_db("migrated")
    first = run("backupdb", "--db", path, "--keep-local", "1", "--keep-daily", "1")
    assert first.returncode == 0, first.stderr
    (old,) = list_backups(run.backups)
    second = run("backupdb", "--db", path, "--keep-local", "1", "--keep-daily", "1")
    assert second.returncode == 0, second.stderr
    assert f"repository retention dropped {archive_of(path, old)}" in second.stdout
    assert recorded_size_is_borgs(run, borg_password)  # read again after the prune
    assert f"retention removed {old['name']}" in second.stdout
    assert [b["name"] for b in list_backups(run.backups)] != [old["name"]]
    assert len(list_backups(run.backups)) == 1


def test_wrong_password_fails_in_one_line_and_keeps_the_local_copy(run, metamorph_db, tmp_path):
    path = metamorph_db("migrated")
    assert run("backupdb", "--db", path).returncode == 0
    other = tmp_path / "other"
    other.write_text("another password\n")
    other.chmod(0o600)

    failed = run("backupdb", "--db", path, METAMORPH_BACKUP_PASSWORD_FILE=str(other))
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    newest = list_backups(run.backups)[0]
    assert last.startswith(
        f"CommandError: The repository at {run.repo} does not open with the password in "
        "METAMORPH_BACKUP_PASSWORD_FILE (it was initialised with another one): point "
        "METAMORPH_BACKUP_PASSWORD_FILE at its password file, or METAMORPH_BACKUP_REPOSITORY "
        f"at a new repository. The verified local copy {newest['name']} was written and kept."
    )
    assert newest["state"] == "verified"
    assert len(list_backups(run.backups)) == 2


def test_unreachable_server_fails_in_one_line(run, metamorph_db, ssh_server, tmp_path):
    path = metamorph_db("migrated")
    ssh_server.stop()
    failed = run(
        "backupdb",
        "--db",
        path,
        METAMORPH_BACKUP_REPOSITORY=ssh_server.url(tmp_path / "remote"),
        METAMORPH_BACKUP_RSH=ssh_server.rsh,
    )
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert "The repository's server cannot be reached (METAMORPH_BACKUP_REPOSITORY=ssh://" in last
    assert "was written and kept" in last
    assert list_backups(run.backups)[0]["state"] == "verified"


@pytest.mark.parametrize(
    "env, expected",
    [
        (
            {"METAMORPH_BACKUP_REPOSITORY": "backups/here"},
            "METAMORPH_BACKUP_REPOSITORY='backups/here' is not a repository address borg can open",
        ),
        ({"METAMORPH_BACKUP_PASSWORD_FILE": "/nonexistent/pw"}, "cannot be read"),
        ({"METAMORPH_BACKUP_PASSWORD_FILE": ""}, "METAMORPH_BACKUP_PASSWORD_FILE is not"),
    ],
)
def test_unusable_settings_are_refused_at_start_up(run, env, expected):
    refused = run("listbackups", **env)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert expected in refused.stderr.strip().splitlines()[-1]


def test_world_readable_password_file_is_refused_at_start_up(run, borg_password):
    os.chmod(borg_password, 0o644)
    refused = run("listbackups")
    assert refused.returncode != 0
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"METAMORPH_BACKUP_PASSWORD_FILE={borg_password} is readable by every user of this "
            f"host: `chmod 600 {borg_password}` (it opens every backup, OAuth tokens included)."
        )
    )


def test_backup_to_the_ssh_repository_beside_a_writer_loses_no_commit(
    run, metamorph_db, metamorph_writer, ssh_server, tmp_path
):
    path = metamorph_db("migrated")
    writer = metamorph_writer(path)
    made = run(
        "backupdb",
        "--db",
        path,
        METAMORPH_BACKUP_REPOSITORY=ssh_server.url(tmp_path / "remote" / "repo"),
        METAMORPH_BACKUP_RSH=ssh_server.rsh,
    )
    writer.wait_for_commits(5, timeout=60)
    report = writer.stop()
    assert made.returncode == 0, made.stderr
    assert f"stored in the repository as {os.path.basename(path)}.metamorph-backup-" in made.stdout
    assert report.missing_from(path) == []
    assert report.commits > 0


def test_restore_from_an_archive_is_refused_while_metamorph_has_the_file(
    run, metamorph_db, metamorph_writer
):
    path = metamorph_db("migrated")
    assert run("backupdb", "--db", path).returncode == 0
    (local,) = list_backups(run.backups)
    writer = metamorph_writer(path)
    refused = run("restorebackup", "--db", path, "--archive", archive_of(path, local), "--yes")
    writer.stop()
    assert refused.returncode == 1
    assert "Stop Metamorph first" in refused.stderr


def test_damaged_repository_fails_the_check_and_the_restore_in_one_line(run, metamorph_db):
    path = metamorph_db("migrated")
    assert run("backupdb", "--db", path).returncode == 0
    (local,) = list_backups(run.backups)
    corrupt_largest_segment(run.repo)
    before = digest(path)

    checked = run("checkbackups", "--db", path)
    assert checked.returncode == 1
    assert f"The repository at {run.repo} is damaged (Data integrity error" in checked.stdout
    assert "NOT restorable" in checked.stdout
    os.unlink(local["path"])
    os.unlink(local["path"] + ".json")
    refused = run("restorebackup", "--db", path, "--archive", archive_of(path, local), "--yes")
    assert refused.returncode == 1
    assert f"The repository at {run.repo} is damaged (" in refused.stderr.strip().splitlines()[-1]
    assert digest(path) == before


def test_checkbackups_without_a_repository_says_how_to_configure_one(run):
    refused = run("checkbackups", METAMORPH_BACKUP_REPOSITORY="")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "CommandError: No backup repository is configured: set METAMORPH_BACKUP_REPOSITORY and "
        "METAMORPH_BACKUP_PASSWORD_FILE (docs/backups-offsite.md)."
    )
