"""What the Remap page shows of the file its database's agent reads: while a read is queued
the page says so and polls (htmx); once the agent stored it the page shows it and who read it.
A backend that queues and never runs stands for an agent that has not taken the task yet."""

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from metamorph_admin import agent_reads, databases
from metamorph_admin.models import AgentRead, AuditRecord
from metamorph_admin.tests.job_helpers import user_with_role
from vaults.models import RemapPlanRecord, Snapshot
from vaults.services import remap_reads, snapshots


@pytest.fixture
def queued_only(settings, client, db, metamorph_db):
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}
    }
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    client.force_login(user_with_role("admin", "ada"))
    client.get(reverse("vaults:remap"))  # queues the background read the page needs
    snapshots.take_snapshot(Snapshot.objects.get().id)
    return client


def _agent_takes_the_queued_reads():
    queued = list(AgentRead.objects.filter(state=AgentRead.State.QUEUED))
    for read in queued:
        remap_reads.remap_read_task.call(read.pk)
    return queued


def test_the_remap_page_polls_until_the_agent_has_read_owner_columns_and_plans(queued_only):
    html = queued_only.get(reverse("vaults:remap")).content.decode()
    assert 'id="agent-page" hx-get="/remap/"' in html
    assert "no agent has ever reported for it" in html  # why nothing comes yet
    assert "python manage.py agent --database default" in html
    assert {r.kind for r in _agent_takes_the_queued_reads()} == {
        remap_reads.OWNER_SOURCES,
        remap_reads.PLANS,
    }
    html = queued_only.get(reverse("vaults:remap")).content.decode()
    assert 'id="agent-page" hx-get' not in html
    assert "Owner columns as read by agent pid " in html
    assert "The plans' journal as read by agent pid " in html
    html = queued_only.get(reverse("vaults:remap")).content.decode()
    assert AgentRead.objects.filter(state=AgentRead.State.QUEUED).count() == 0  # kept, not re-read


def test_a_preview_waits_for_its_agent_then_opens_the_stored_plan(queued_only):
    queued_only.get(reverse("vaults:remap"))
    _agent_takes_the_queued_reads()
    response = queued_only.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "default-vault", "target": "team-x"},
        follow=True,
    )
    html = response.content.decode()
    read = AgentRead.objects.get(kind=remap_reads.PREVIEW)
    wait = reverse("vaults:remap_preview_wait", args=[read.pk])
    assert f'hx-get="{wait}"' in html and "is reading the file" not in html
    assert "no agent has ever reported for it" in html
    assert not RemapPlanRecord.objects.exists()
    _agent_takes_the_queued_reads()
    polled = queued_only.get(wait, headers={"HX-Request": "true"})
    plan = RemapPlanRecord.objects.get()
    assert polled["HX-Redirect"] == reverse("vaults:remap_plan", args=[plan.plan_id])
    record = AuditRecord.objects.get(action="remap-preview")
    assert record.outcome == "success" and record.actor == "ada"
    assert record.parameters["plan_id"] == plan.plan_id


def test_a_preview_the_agent_refuses_shows_its_reason_on_the_wait_page(queued_only):
    queued_only.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "no-such-vault", "target": "team-x"},
    )
    _agent_takes_the_queued_reads()
    read = AgentRead.objects.get(kind=remap_reads.PREVIEW)
    html = queued_only.get(reverse("vaults:remap_preview_wait", args=[read.pk])).content.decode()
    assert read.state == "failed" and "No row is in vault 'no-such-vault'" in read.error
    assert 'id="read-error"' in html and escape(read.error) in html and "hx-get" not in html
    refused = AuditRecord.objects.get(action="remap-preview")
    assert refused.outcome == "refused" and refused.message == read.error


def test_only_the_newest_finished_reads_of_one_thing_are_kept(queued_only):
    db = databases.current()
    for _ in range(3 * agent_reads.KEEP):
        agent_reads.queue(
            db, remap_reads.remap_read_task, remap_reads.OWNER_SOURCES, "again", {"source": "x"}
        )
        _agent_takes_the_queued_reads()
    kept = AgentRead.objects.of("default", remap_reads.OWNER_SOURCES, "again")
    assert kept.count() == agent_reads.KEEP and kept.finished().count() == agent_reads.KEEP


def test_a_plan_page_shows_its_stored_journal_while_a_new_read_runs_and_polls_for_it(
    queued_only,
):
    queued_only.get(reverse("vaults:remap"))
    _agent_takes_the_queued_reads()
    queued_only.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "default-vault", "target": "team-x"},
    )
    _agent_takes_the_queued_reads()
    plan = RemapPlanRecord.objects.get()
    url = reverse("vaults:remap_plan", args=[plan.plan_id])
    queued_only.get(url)
    _agent_takes_the_queued_reads()
    html = queued_only.get(url).content.decode()
    assert 'id="agent-page" hx-get' not in html and 'id="execute-form"' in html
    RemapPlanRecord.objects.filter(pk=plan.pk).update(created_at=timezone.now())  # changed
    html = queued_only.get(url).content.decode()
    assert "The plan's journal as read by agent pid " in html and "reading again now" in html
    assert f'id="agent-page" hx-get="{url}"' in html
    polled = queued_only.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "reading again now" in polled
    assert AgentRead.objects.filter(state=AgentRead.State.QUEUED).count() == 1  # no second
    _agent_takes_the_queued_reads()
    polled = queued_only.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "reading again now" not in polled and 'id="agent-page" hx-get' not in polled
