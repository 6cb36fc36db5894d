"""Background reads end in a state the pages can show, whatever goes wrong inside them."""

import sqlite3

import pytest

from conftest import sql
from metamorph import report
from metamorph_admin.tests.job_helpers import user_with_role
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


@pytest.mark.django_db
@pytest.mark.parametrize("odd_id", [42, b"\x01\xffvault"], ids=["integer", "blob"])
def test_a_vault_id_stored_as_integer_or_blob_is_read_and_shown(
    metamorph_db, odd_id, client, settings
):
    # The read crashed ("bytes is not JSON serializable") and stayed "running" for minutes.
    path = metamorph_db("migrated", sessions=20, vaults=2)
    sql_write(path, "UPDATE messages SET vault_id = ? WHERE rowid IN (1, 2, 3)", (odd_id,))
    snap = snapshots.request_snapshot(path)
    snap.refresh_from_db()
    assert snap.state == Snapshot.State.DONE, snap.error
    assert (
        snap.payload["counts"]["tables"]["messages"]["total"]
        == sql(path, "SELECT COUNT(*) FROM messages")[0][0]
    )
    settings.METAMORPH_DATABASE_PATH = path
    client.force_login(user_with_role("viewer"))
    for url in ("/", "/health/", "/checks/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_result_that_cannot_be_stored_fails_the_read_instead_of_leaving_it_running(
    metamorph_db, monkeypatch
):
    path = metamorph_db("migrated", sessions=20, vaults=2)
    monkeypatch.setattr(report, "full_snapshot", lambda *a, **k: {"odd": object()})
    snap = snapshots.request_snapshot(path)
    snap.refresh_from_db()
    assert snap.state == Snapshot.State.FAILED
    assert f"background read #{snap.id}" in snap.error


def sql_write(path, query, params=()):
    conn = sqlite3.connect(path)
    try:
        conn.execute(query, params)
        conn.commit()
    finally:
        conn.close()
