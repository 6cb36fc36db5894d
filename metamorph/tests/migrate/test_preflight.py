"""Pre-flight: refuse unless a fresh verified backup, disk space and quick_check say go."""

from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pytest

from metamorph.migrate import preflight as preflight_module
from metamorph.migrate.errors import PreflightRefused
from metamorph.migrate.preflight import estimate_index_bytes, preflight

from .helpers import LockHolder, fingerprint, row_counts

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
Usage = namedtuple("Usage", "total used free")


def _finder(path, hours_old, counts=None):
    return lambda: (path, NOW - timedelta(hours=hours_old), {"row_counts": counts or {}})


def _by_name(report):
    return {f.name: f for f in report.findings}


def test_a_fresh_verified_backup_and_a_healthy_file_pass_every_check(metamorph_db, tmp_path):
    path = metamorph_db("legacy")
    backup = tmp_path / "backup.db"
    backup.write_bytes(b"x")
    counts = row_counts(path)
    report = preflight(path, _finder(str(backup), 2, counts), now=NOW)
    assert report.ok and not report.refused
    assert _by_name(report)["backup"].message == f"verified backup {backup}, 2.0 h old"
    assert report.before_counts == counts
    assert set(_by_name(report)) == {"pending", "quick_check", "lock", "disk_space", "backup"}


def test_without_any_backup_the_run_is_refused_with_the_way_to_take_one(metamorph_db):
    path = metamorph_db("legacy")
    with pytest.raises(PreflightRefused) as err:
        preflight(path, lambda: None, now=NOW)
    message = str(err.value)
    assert message.startswith(f"Refusing to migrate {path}: backup: no verified backup found")
    assert "`python manage.py backupdb`, or run with --backup" in message
    assert message.endswith("or pass --force to run anyway.")


def test_a_backup_older_than_the_limit_is_refused_with_its_age(metamorph_db, tmp_path):
    backup = tmp_path / "old.db"
    backup.write_bytes(b"x")
    with pytest.raises(PreflightRefused) as err:
        preflight(
            metamorph_db("legacy"), _finder(str(backup), 30), max_backup_age_hours=24, now=NOW
        )
    assert (
        f"the latest verified backup {backup} is 30.0 h old (limit 24 h): take a fresh one"
        in str(err.value)
    )


def test_a_backup_whose_file_was_deleted_does_not_count(metamorph_db, tmp_path):
    gone = str(tmp_path / "gone.db")
    report = preflight(metamorph_db("legacy"), _finder(gone, 1), force=True, now=NOW)
    assert not _by_name(report)["backup"].ok
    assert "no longer exists" in _by_name(report)["backup"].message


def test_force_returns_the_failed_findings_instead_of_refusing(metamorph_db):
    report = preflight(metamorph_db("legacy"), None, force=True, now=NOW)
    assert report.forced and not report.ok and not report.refused
    assert report.to_dict()["findings"][-1] == {
        "name": "backup",
        "ok": False,
        "message": "no verified backup is known: take one first (`python manage.py backupdb`, "
        "or run with --backup)",
    }


def test_too_little_free_space_for_the_index_builds_is_refused(metamorph_db, tmp_path, monkeypatch):
    backup = tmp_path / "b.db"
    backup.write_bytes(b"x")
    monkeypatch.setattr(
        preflight_module.shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 1024, 1024)
    )
    with pytest.raises(PreflightRefused) as err:
        preflight(metamorph_db("legacy"), _finder(str(backup), 1), now=NOW)
    assert "disk_space: about" in str(err.value) and "free space first" in str(err.value)


def test_index_space_estimate_grows_with_the_rows_to_index(metamorph_db):
    from metamorph.migrate import runner
    from metamorph.migrate.db import open_for_reading

    small, large = metamorph_db("legacy", sessions=60), metamorph_db("legacy", sessions=240)
    sizes = []
    for path in (small, large):
        conn = open_for_reading(path)
        sizes.append(estimate_index_bytes(conn, runner.plan(path)))
        conn.close()
    assert 0 < sizes[0] < sizes[1]
    assert 3 < sizes[1] / sizes[0] < 5


def test_a_process_holding_the_write_lock_is_a_failed_finding_naming_it(metamorph_db, tmp_path):
    path = metamorph_db("legacy")
    with LockHolder(path) as holder:
        report = preflight(path, None, force=True, now=NOW)
    lock = _by_name(report)["lock"]
    assert not lock.ok
    assert lock.message == (
        f"process {holder.pid} has an open write transaction (held for "
        "over 0.3 s): stop the Metamorph service (and any sqlite3 shell) "
        "before migrating"
    )


def test_preflight_never_writes_the_file(metamorph_db):
    path = metamorph_db("legacy")
    before = fingerprint(path)
    preflight(path, None, force=True, now=NOW)
    assert fingerprint(path) == before
