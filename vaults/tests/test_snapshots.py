"""Background reads end in a state the pages can show, whatever goes wrong inside them."""

import pytest

from metamorph import report
from vaults.models import Snapshot
from vaults.services import snapshots


@pytest.mark.django_db
def test_a_read_that_crashes_unexpectedly_is_failed_with_a_message_not_left_running(
    metamorph_db, monkeypatch
):
    path = metamorph_db("migrated", sessions=20, vaults=2)

    def crash(*args, **kwargs):
        raise RuntimeError("a bug in the reader")

    monkeypatch.setattr(report, "full_snapshot", crash)
    snap = snapshots.request_snapshot(path)  # the test settings run tasks immediately
    snap.refresh_from_db()
    assert snap.state == Snapshot.State.FAILED
    assert f"background read #{snap.id}" in snap.error
    assert "a bug in the reader" not in snap.error  # details go to the log, not the page


@pytest.mark.django_db
def test_a_read_of_a_good_file_is_done_with_its_counts(metamorph_db):
    path = metamorph_db("migrated", sessions=20, vaults=2)
    snap = snapshots.request_snapshot(path)
    snap.refresh_from_db()
    assert snap.state == Snapshot.State.DONE
    assert snap.payload["counts"]["total_rows"] > 0
