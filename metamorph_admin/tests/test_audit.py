"""The audit trail: records with outcomes, no secrets, a filtered page and a safe CSV export."""

import csv
import io

import pytest
from django.urls import reverse

from metamorph_admin import audit, jobs
from metamorph_admin.models import AuditRecord
from metamorph_admin.tests.job_helpers import test_kinds, user_with_role  # noqa: F401

pytestmark = pytest.mark.django_db


def _record(action="backup", outcome="success", actor="alice", **kwargs):
    return audit.record(action, audit.Actor(actor), outcome=outcome, **kwargs)


def _csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_secrets_are_never_stored_in_audit_parameters():
    record = _record(
        parameters={
            "db_path": "/d.db",
            "access_token": "gho_abc",
            "nested": {"Password": "pw", "keep": 1},
            "label": "x",
        }
    )
    assert record.parameters == {
        "db_path": "/d.db",
        "access_token": "[redacted]",
        "nested": {"Password": "[redacted]", "keep": 1},
        "label": "x",
    }


def test_a_web_job_cannot_carry_secret_parameters(test_kinds):
    operator = user_with_role("operator")
    with pytest.raises(ValueError, match="must not carry secrets"):
        jobs.enqueue_job("test-mutation", {"oauth_token": "x"}, user=operator)


def test_every_job_outcome_is_audited_with_its_duration(test_kinds):
    ok = jobs.run_job("test-mutation", {"db_path": "/tmp/a.db"}, actor="a", origin="cli")
    failed = jobs.run_job(
        "test-mutation", {"db_path": "/tmp/a.db", "fail": True}, actor="a", origin="cli"
    )
    outcomes = dict(AuditRecord.objects.values_list("job_id", "outcome"))
    assert outcomes == {ok.pk: "success", failed.pk: "failure"}
    assert all(r.duration >= 0 for r in AuditRecord.objects.all())
    assert "pick another file" in AuditRecord.objects.get(job=failed).message


def test_the_audit_page_is_for_admins_and_names_the_role_to_others(client):
    client.force_login(user_with_role("operator", "olga"))
    response = client.get(reverse("core:audit"))
    assert response.status_code == 403
    assert "You need the admin role to view and export the audit trail" in (
        response.content.decode()
    )
    assert client.get(reverse("core:audit_export")).status_code == 403
    assert not AuditRecord.objects.exists()  # reading is not an action worth auditing


def test_the_audit_page_lists_and_filters_records(client):
    client.force_login(user_with_role("admin"))
    _record(action="backup", outcome="success", actor="alice")
    _record(action="restore", outcome="refused", actor="bob", message="Refused: job #3")
    html = client.get(reverse("core:audit")).content.decode()
    assert "alice" in html and "Refused: job #3" in html
    html = client.get(reverse("core:audit"), {"outcome": "refused"}).content.decode()
    assert "Refused: job #3" in html and "alice" not in html
    html = client.get(reverse("core:audit"), {"actor": "ALI"}).content.decode()
    assert "alice" in html and "Refused: job #3" not in html


def test_the_csv_export_streams_the_filtered_records_and_records_the_export(client):
    admin = user_with_role("admin", "ada")
    client.force_login(admin)
    _record(action="backup", parameters={"db_path": "/d.db", "keep": 3}, duration=1.23456)
    _record(action="restore", outcome="refused")
    response = client.get(reverse("core:audit_export"), {"action": "backup"})
    rows = _csv(response)
    assert rows[0] == audit.CSV_COLUMNS
    assert [r[3] for r in rows[1:]] == ["backup"]
    assert rows[1][1:8] == [
        "alice",
        "web",
        "backup",
        "",
        '{"db_path": "/d.db", "keep": 3}',
        "success",
        "1.235",
    ]
    assert 'attachment; filename="metamorph-audit-' in response["Content-Disposition"]
    export = AuditRecord.objects.get(action="export-audit")
    assert export.actor == "ada" and export.parameters == {"action": "backup"}


@pytest.mark.parametrize(
    "evil", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]
)
def test_the_csv_export_defuses_cells_a_spreadsheet_would_run_as_formulas(client, evil):
    client.force_login(user_with_role("admin"))
    _record(action="backup", actor=evil, target=evil, message=evil)
    row = _csv(client.get(reverse("core:audit_export"), {"action": "backup"}))[1]
    assert row[1] == row[4] == row[10] == "'" + evil


def test_a_plain_cell_is_exported_unchanged():
    assert audit.csv_cell("alice") == "alice" and audit.csv_cell(1.5) == 1.5
    assert audit.csv_cell(None) == ""


def test_the_audit_page_shows_parameters_named_like_dict_methods(client):
    # A rollout phase's checks record a parameter called "items"; the page read that key
    # instead of looping over the parameters and answered 500.
    client.force_login(user_with_role("admin"))
    _record(action="rollout-checks", parameters={"items": 3, "keys": "a", "values": [1, 2]})
    response = client.get(reverse("core:audit"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "items: 3" in html and "keys: a" in html and "values: 1, 2" in html
