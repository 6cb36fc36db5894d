"""A rollout's checks and signatures run on the agent of the item's database. A backend that
queues and never runs stands for an agent that has not taken the task yet; the test plays
the agent by running the task."""

import pytest
from django.test import override_settings
from django.utils import timezone

from metamorph_admin import agent_reads
from metamorph_admin.models import Agent, AgentRead, AuditRecord
from rollouts import agent_checks, sealed_tokens
from rollouts.tests.helpers import make_rollout

TOKENS = ("token-of-vault-a-0123456789", "token-of-vault-b-9876543210")


@pytest.fixture
def queued_only(settings, dbs, people, client):
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}
    }
    now = timezone.now()
    for name, path in dbs.items():  # both agents online, as their heartbeats say
        Agent.objects.create(
            database=name,
            db_path=path,
            queue_name=f"db-{name}",
            hostname=f"{name}-host",
            pid=4000 + len(name),
            version="0.11.0",
            started_at=now,
            heartbeat_at=now,
        )
    client.force_login(people["oscar"])
    return client


def _agent_takes_the_queued_reads():
    for read in AgentRead.objects.filter(state=AgentRead.State.QUEUED):
        agent_checks.gather_task.call(read.pk)


def test_a_check_is_queued_on_its_agent_and_the_page_reloads_when_it_is_in(queued_only):
    rollout = make_rollout()
    url = f"/rollouts/{rollout.pk}/"
    page = queued_only.post(f"{url}items/p2-indexes/check/", follow=True).content.decode()
    assert "queued on the agent of database staging" in page
    assert f'hx-get="{url}?agents=1"' in page and "Being gathered by the agent of staging" in page
    polled = queued_only.get(f"{url}?agents=1", headers={"HX-Request": "true"})
    assert 'id="with-agents"' in polled.content.decode()
    assert AgentRead.objects.get().database == "staging"
    _agent_takes_the_queued_reads()
    polled = queued_only.get(f"{url}?agents=1", headers={"HX-Request": "true"})
    assert polled["HX-Refresh"] == "true"
    page = queued_only.get(url).content.decode()
    assert 'id="with-agents"' not in page and "Gathered by agent pid " in page
    item = rollout.items.get(key="p2-indexes")
    assert item.status == "fail" and item.last_run_by == "oscar"  # a legacy file: no indexes
    record = AuditRecord.objects.get(action="rollout-check")
    assert record.actor == "oscar" and record.outcome == "failure"
    assert record.parameters == {"item": "p2-indexes", "status": "fail"}


def test_a_check_whose_agent_is_offline_is_refused_with_the_command_that_starts_it(
    queued_only,
):
    Agent.objects.filter(database="production").delete()
    rollout = make_rollout()
    page = queued_only.post(
        f"/rollouts/{rollout.pk}/items/checklist-backup/check/", follow=True
    ).content.decode()
    assert "Refused: nothing can run on database production now: no agent has ever" in page
    assert "python manage.py agent --database production" in page
    assert not AgentRead.objects.exists()
    assert AuditRecord.objects.get(action="rollout-check").outcome == "refused"


def test_pasted_tokens_reach_the_agent_sealed_and_are_erased_once_opened(queued_only):
    rollout = make_rollout(staging_url="http://127.0.0.1:9")
    queued_only.post(
        f"/rollouts/{rollout.pk}/items/p2-tokens/check/",
        {"token_a": TOKENS[0], "token_b": TOKENS[1]},
    )
    read = AgentRead.objects.get()
    assert read.parameters["tokens"] and not any(t in str(read.parameters) for t in TOKENS)
    assert sealed_tokens.unseal(read.parameters["tokens"]) == TOKENS
    _agent_takes_the_queued_reads()
    read.refresh_from_db()
    assert read.state == "done" and read.parameters["tokens"] == ""
    assert rollout.items.get(key="p2-tokens").status == "fail"  # nothing listens on port 9


def test_sealed_tokens_changed_or_sealed_under_another_key_are_refused_with_the_cause(db):
    sealed = sealed_tokens.seal(TOKENS)
    flipped = sealed[:30] + ("A" if sealed[30] != "A" else "B") + sealed[31:]
    for bad in (flipped, "not-base64!", ""):
        with pytest.raises(sealed_tokens.TokensUnreadable, match="SECRET_KEY differs"):
            sealed_tokens.unseal(bad)
    with override_settings(SECRET_KEY="another-key-" * 4):
        with pytest.raises(sealed_tokens.TokensUnreadable):
            sealed_tokens.unseal(sealed)


def test_a_signature_is_queued_on_the_agent_and_its_refusal_shown_on_the_page(queued_only, people):
    rollout = make_rollout()
    queued_only.force_login(people["mia"])
    page = queued_only.post(f"/rollouts/{rollout.pk}/phases/0/sign/", follow=True).content
    assert "re-runs its checks, then signs" in page.decode()
    _agent_takes_the_queued_reads()
    page = queued_only.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert 'class="flash error sign-refused">Pre-migration checklist cannot be signed' in page
    record = AuditRecord.objects.get(action="rollout-sign")
    assert record.actor == "mia" and record.outcome == "refused"
    assert not rollout.signoffs.exists()


def test_tokens_no_agent_opened_in_time_are_erased_unused(queued_only):
    rollout = make_rollout(staging_url="http://127.0.0.1:9")
    queued_only.post(
        f"/rollouts/{rollout.pk}/items/p2-tokens/check/",
        {"token_a": TOKENS[0], "token_b": TOKENS[1]},
    )
    late = timezone.now() - agent_checks.TOKENS_TTL * 2
    AgentRead.objects.update(requested_at=late)
    agent_checks.forget_stale_tokens()
    assert AgentRead.objects.get().parameters["tokens"] == ""
    queued_only.post(
        f"/rollouts/{rollout.pk}/items/p2-tokens/check/",
        {"token_a": TOKENS[0], "token_b": TOKENS[1]},
    )
    AgentRead.objects.update(requested_at=late)
    _agent_takes_the_queued_reads()
    newest = AgentRead.objects.order_by("-id").first()
    assert newest.state == "failed" and "waited too long for the agent" in newest.error
    assert all(r.parameters["tokens"] == "" for r in AgentRead.objects.all())
    page = queued_only.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "Not gathered: The pasted tokens waited too long" in page


def test_a_check_its_agent_died_running_stops_the_page_polling_after_a_while(queued_only):
    rollout = make_rollout()
    queued_only.post(f"/rollouts/{rollout.pk}/items/p2-indexes/check/")
    AgentRead.objects.update(state=AgentRead.State.RUNNING)  # claimed, then the agent was killed
    assert 'id="with-agents"' in queued_only.get(f"/rollouts/{rollout.pk}/").content.decode()
    long_ago = timezone.now() - agent_reads.STUCK_AFTER * 2
    AgentRead.objects.update(requested_at=long_ago)
    page = queued_only.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert 'id="with-agents"' not in page
