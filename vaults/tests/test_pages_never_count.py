"""Under load no page waits on a count: without a cached read a page shows what it has
("counting…") and the background read fills it in, counts first."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from conftest import sql
from metamorph import inspect, report
from vaults.models import Snapshot
from vaults.services import snapshots


@pytest.fixture
def queued_only(settings, client, db, metamorph_db):
    """A task backend that queues and never runs: like a busy or stopped task worker."""
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}
    }
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    client.force_login(User.objects.create_user("vera", password="pw"))
    return settings.METAMORPH_DATABASE_PATH


def test_without_a_cached_read_pages_show_counting_and_run_no_count(
    client, queued_only, monkeypatch
):
    def no_live_counts(*args, **kwargs):
        raise AssertionError("a page counted rows in the request")

    monkeypatch.setattr(inspect, "vault_row_counts", no_live_counts)
    html = client.get(reverse("vaults:dashboard")).content.decode()
    assert "no agent has ever reported for it" in html
    assert "python manage.py agent --database default" in html
    snap = Snapshot.objects.get()
    # The agent starts the read: the page report is stored first, the counts come later.
    Snapshot.objects.filter(id=snap.id).update(
        state=Snapshot.State.RUNNING, payload=report.page_shape(queued_only)
    )
    html = client.get(reverse("vaults:dashboard")).content.decode()
    assert 'id="total-rows">counting…' in html and 'id="distinct-vaults">counting…' in html
    for name in (
        "vaults:vault",
        "vaults:indexes",
        "vaults:health",
        "vaults:checks",
        "vaults:remap",
    ):
        assert client.get(reverse(name), {"id": "user-0001"}).status_code == 200
    assert "runs with the background read" in client.get(reverse("vaults:remap")).content.decode()
    assert Snapshot.objects.get().id == snap.id  # one read queued, not one per page


def test_the_counts_show_as_soon_as_the_background_read_has_them(client, queued_only):
    path = queued_only
    client.get(reverse("vaults:dashboard"))
    snap = Snapshot.objects.get()
    seen = {}

    def counted(counts):
        Snapshot.objects.filter(id=snap.id).update(
            state=Snapshot.State.RUNNING, payload={**report.page_shape(path), "counts": counts}
        )
        seen["html"] = client.get(reverse("vaults:dashboard")).content.decode()

    report.full_snapshot(path, counted=counted)
    total = sum(
        n
        for (t,) in sql(
            path,
            "SELECT name FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' AND name != "
            "'schema_migrations'",
        )
        for (n,) in sql(path, f'SELECT COUNT(*) FROM "{t}"')
    )
    assert f'id="total-rows">{total:,}<' in seen["html"]


def test_a_recount_stores_counts_before_the_slow_parts(queued_only, monkeypatch):
    path = queued_only
    snap = Snapshot.objects.create(db_path=path)
    phases = []
    original = report.full_snapshot

    def watch(db_path, progress, counted):
        def spy(counts):
            counted(counts)
            phases.append(
                ("counts stored", bool(Snapshot.objects.get(id=snap.id).payload.get("counts")))
            )

        return original(db_path, lambda p, *a: phases.append(p), spy)

    monkeypatch.setattr(report, "full_snapshot", watch)
    snapshots.take_snapshot(snap.id)
    assert phases.index(("counts stored", True)) < phases.index("integrity")
    assert Snapshot.objects.get(id=snap.id).state == Snapshot.State.DONE
