"""Remap job pages: the summary says rows per table and vault and links to the plan."""

import os

import pytest
from django.urls import reverse

from metamorph_admin.models import Job
from metamorph_admin.tests.page_helpers import (  # noqa: F401 (live_db is a fixture)
    LITERALS,
    job_page,
    live_db,
    login,
    start,
    summary_of,
)
from vaults.models import RemapPlanRecord

pytestmark = pytest.mark.django_db


def test_a_remap_job_summary_has_rows_per_table_and_vault_and_links_to_the_plan(client, live_db):
    path = live_db("migrated")
    admin = login(client, "admin")
    admin.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "default-vault", "target": "erin"},
    )
    plan_id = RemapPlanRecord.objects.get().plan_id
    job = start(admin, "remap", plan_id=plan_id, mode="online", confirm=os.path.basename(path))
    assert job.state == "succeeded", job.error
    html = job_page(client, job)
    summary = summary_of(html)
    assert f'id="way-back" href="{reverse("vaults:remap_plan", args=[plan_id])}"' in html
    assert f"{job.result['moved_total']:,} rows moved" in summary
    for table, n in job.result["moved"].items():
        assert f"<td>{table}</td><td>{n:,}</td>" in summary
    assert 'id="rows-per-vault"' in summary and "<td>erin</td>" in summary
    assert f'href="{reverse("vaults:remap_plan", args=[plan_id])}"' in summary
    assert not LITERALS.search(summary)


def test_a_remap_summary_tolerates_a_result_with_other_keys(client, live_db):
    live_db("migrated")
    job = Job.objects.create(
        kind="remap",
        db_path="/x.db",
        actor="ada",
        state="succeeded",
        parameters={"plan_id": "rp-gone"},
        result={
            "moved_by_vault": {"erin": 1200, "bob": 3},
            "rows_per_second": 4000.5,
            "phase_times": {"a": 1},
        },
    )
    summary = summary_of(job_page(login(client, "viewer"), job))
    assert "<td>erin</td><td>1,200</td>" in summary and "rows per second" in summary
