"""Rehearsal on a scratch copy and the downtime estimate: the live file is never written."""

import json
import os

import pytest

from metamorph.errors import DiskFull
from metamorph.migrate import rehearsal
from metamorph.migrate.errors import RehearsalFailed
from metamorph.migrate.rehearsal import estimate_downtime, rehearse

from .helpers import fingerprint


def test_rehearsal_migrates_and_verifies_a_copy_and_leaves_the_live_file_untouched(
    metamorph_db, tmp_path
):
    live = metamorph_db("legacy")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = fingerprint(live)
    calls = []
    result = rehearse(live, str(scratch), progress=lambda *a: calls.append(a[0]))
    assert fingerprint(live) == before
    assert os.listdir(scratch) == []
    assert result["ok"] and result["verification"]["ok"]
    assert result["run"]["migrations"][0]["counts"]["columns_added"] == 11
    assert all(result[k] >= 0 for k in ("copy_seconds", "migrate_seconds", "verify_seconds"))
    assert result["downtime"]["basis"] == "rehearsal"
    assert {"copy", "001_add_vault_id", "002_add_vercel_sandbox_tables", "verify"} <= set(calls)
    json.dumps(result)


def test_a_failed_rehearsal_deletes_the_scratch_copy_and_says_the_live_file_is_safe(
    metamorph_db, tmp_path, monkeypatch
):
    live = metamorph_db("legacy")
    before = fingerprint(live)

    def full_disk(path, progress=None):
        raise DiskFull(path, "database or disk is full")

    monkeypatch.setattr(rehearsal, "run_migrations", full_disk)
    with pytest.raises(RehearsalFailed) as err:
        rehearse(live, str(tmp_path))
    message = str(err.value)
    assert message.startswith(
        f"The rehearsal on a scratch copy of {live} failed while running "
        "the migrations on the copy: The disk holding"
    )
    assert "The live database was not written and the scratch copy was deleted." in message
    assert [p for p in os.listdir(tmp_path) if p.startswith("rehearsal-")] == []
    assert fingerprint(live) == before


def test_rehearsal_into_a_missing_scratch_directory_is_refused(metamorph_db, tmp_path):
    with pytest.raises(RehearsalFailed) as err:
        rehearse(metamorph_db("legacy"), str(tmp_path / "nope"))
    assert f"the scratch directory {tmp_path / 'nope'} does not exist." in str(err.value)


def test_downtime_estimate_for_one_gigabyte_quotes_the_guide_and_our_model():
    estimate = estimate_downtime(984_000_000)
    assert estimate["guide_estimate"] == "1-5 minutes"
    assert estimate["guide_seconds"] == [60, 300]
    assert estimate["basis"] == "model" and estimate["predicted_seconds"] == 3.2
    assert estimate["sentence"] == (
        "Metamorph's guide estimates 1-5 minutes for a database of 100MB - 1GB (this one is "
        "984.0 MB). Measured on a similar database, the migration takes about 1.6 s per GB, so "
        "expect about 3.2 s; rehearse on a copy of this database for a measured figure, plus "
        "the time to stop and restart the service."
    )


def test_downtime_estimate_prefers_the_rehearsal_measured_on_this_database():
    estimate = estimate_downtime(5 * 10**9, rehearsal_seconds=4.2)
    assert estimate["guide_estimate"] == "5-30 minutes"
    assert estimate["measured_seconds"] == 4.2 and estimate["predicted_seconds"] == 8.4
    assert "migrated and verified it in 4.20 s, so plan for about 8.4 s" in estimate["sentence"]


@pytest.mark.parametrize("size, bucket", [(50 * 10**6, "< 100MB"), (20 * 10**9, "> 10GB")])
def test_downtime_estimate_covers_every_row_of_the_guides_table(size, bucket):
    assert estimate_downtime(size)["guide_bucket"] == bucket
