"""The review report (md, html, json) from the page and from `rolloutreport`, and its hash."""

import hashlib
import json
import re

import pytest
from django.db import connection

from metamorph.testing.fake_server import FakeMetamorph
from metamorph_admin.models import AuditRecord
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import two_databases_env
from rollouts import exports, report, services
from rollouts.models import Event, Item, ReportExport
from rollouts.tests.helpers import (
    attest_all,
    create_rollout_from_the_shell,
    make_rollout,
    operate,
    two_fullest_vaults,
)


def _signed_checklist(dbs):
    rollout = make_rollout()
    operate("backup", dbs["production"], "oscar")
    operate("rehearsal", dbs["production"], "oscar")
    attest_all(rollout, 0)
    services.sign(rollout, 0, actor="mia")
    return rollout


def _export(rollout, fmt, user):
    return exports.export(rollout, fmt, user=user, origin="web")


def test_every_format_carries_version_items_signatures_and_a_hash_that_verifies(dbs, people):
    rollout = _signed_checklist(dbs)
    for fmt in report.FORMATS:
        done = _export(rollout, fmt, people["ada"])
        text, digest = done.text, done.sha256
        assert digest in text and report.ZERO not in text and report.UNSIGNED not in text
        verdict = exports.verify(text)
        assert verdict.ok and verdict.sha256 == digest, verdict.message
        assert "exported by ada from the web" in verdict.message
        assert "0.11.0" in text and "Verified backup of production" in text
        assert "mia" in text and "done by oscar, see wiki" in text
        edited = text.replace("done by oscar", "done by nobody")
        assert not exports.verify(edited).ok
        assert "was changed after it was written" in exports.verify(edited).message
    data = json.loads(_export(rollout, "json", people["ada"]).text)
    checklist = data["phases"][0]
    assert checklist["state"] == "signed" and checklist["signoffs"][0]["signed_by"] == "mia"
    frozen = {e["key"]: e for e in checklist["signoffs"][0]["evidence"]}
    assert frozen["checklist-backup"]["status"] == "pass"
    assert frozen["checklist-backup"]["numbers"] == checklist["items"][0]["numbers"]
    assert {a["action"] for a in data["audit"]} >= {"backup", "rehearsal"}
    assert data["at_a_glance"]["current_phase"] == "Phase 1: Development testing"
    assert data["exported_by"] == "ada"
    assert ReportExport.objects.filter(exported_by="ada").count() == 4


def _rehash_the_readme_way(text, written):
    """What a forger does: edit, then put sha256(document with the hash as 64 zeros) back."""
    zeroed = text.replace(written, report.ZERO)
    return zeroed.replace(report.ZERO, hashlib.sha256(zeroed.encode()).hexdigest())


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_a_report_edited_and_rehashed_fails_verification_with_a_clear_line(dbs, people, fmt):
    rollout = _signed_checklist(dbs)
    done = _export(rollout, fmt, people["ada"])
    forged = done.text.replace("mia", "mallory")
    assert forged.count("mallory") >= 2
    rehashed = _rehash_the_readme_way(forged, done.sha256)
    verdict = exports.verify(rehashed)
    assert not verdict.ok and "was changed after it was written" in verdict.message
    # A forger who also blanks the signature before hashing, as this tool does:
    _, signature = report.written_marks(forged)
    blank = forged.replace(done.sha256, report.ZERO).replace(signature, report.UNSIGNED)
    digest = hashlib.sha256(blank.encode()).hexdigest()
    careful = blank.replace(report.ZERO, digest).replace(report.UNSIGNED, signature)
    verdict = exports.verify(careful)
    assert not verdict.ok
    assert "content-signature this dashboard did not make" in verdict.message


def test_a_report_signed_with_another_key_or_never_exported_here_is_refused(dbs, people, settings):
    rollout = _signed_checklist(dbs)
    settings.REPORT_SIGNING_KEY = "another-dashboard-" + "k" * 40
    elsewhere = _export(rollout, "md", people["ada"]).text
    settings.REPORT_SIGNING_KEY = ""
    assert "did not make" in exports.verify(elsewhere).message
    done = _export(rollout, "md", people["ada"])
    ReportExport.objects.filter(sha256=done.sha256).delete()
    verdict = exports.verify(done.text)
    assert not verdict.ok and "export table has no record" in verdict.message


def test_a_viewers_report_leaves_out_the_audit_trail_an_admins_has_it(client, dbs, people):
    rollout = _signed_checklist(dbs)
    client.force_login(people["vera"])
    assert client.get("/audit/").status_code == 403
    as_viewer = client.get(f"/rollouts/{rollout.pk}/report.json")
    data = json.loads(as_viewer.content)
    assert data["audit"] == [] and data["audit_included"] is False
    for fmt in ("md", "html"):
        text = client.get(f"/rollouts/{rollout.pk}/report.{fmt}").content.decode()
        assert report.AUDIT_WITHHELD in text and "backup" not in text.split("Audit trail")[-1]
    client.force_login(people["ada"])
    data = json.loads(client.get(f"/rollouts/{rollout.pk}/report.json").content)
    assert data["audit_included"] is True and len(data["audit"]) >= 2


def test_the_html_is_self_contained_and_prints_on_a4(dbs, people):
    rollout = _signed_checklist(dbs)
    html = _export(rollout, "html", people["ada"]).text
    assert "@page { size: A4" in html
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="https?://', html)


def test_a_hostile_note_cannot_fake_the_hash(dbs, people):
    rollout = make_rollout()
    fake = "content-sha256: " + "a" * 64
    item = Item.objects.get(rollout=rollout, key="checklist-staging")
    services.attest(rollout, item.key, actor="oscar", note=fake, version=item.version)
    for fmt in report.FORMATS:
        done = _export(rollout, fmt, people["oscar"])
        assert exports.verify(done.text).sha256 == done.sha256
        assert exports.verify(done.text).ok


def test_download_from_the_page_is_audited(client, dbs, people):
    rollout = _signed_checklist(dbs)
    client.force_login(people["vera"])
    response = client.get(f"/rollouts/{rollout.pk}/report.html")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="rollout-move-to-vaults.html"'
    verdict = exports.verify(response.content.decode())
    assert verdict.ok and "exported by vera from the web" in verdict.message
    record = AuditRecord.objects.get(action="rollout-report")
    assert record.actor == "vera" and record.parameters["sha256"] == verdict.sha256
    assert client.get(f"/rollouts/{rollout.pk}/report.pdf").status_code == 404


def test_tokens_pasted_for_the_isolation_check_are_never_stored(
    client, dbs, people, settings, metamorph_db
):
    staging = metamorph_db("migrated")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", dbs["production"])]
    a, b = two_fullest_vaults(staging)
    with FakeMetamorph(staging, tokens={"eyJ-secret-A": a, "eyJ-secret-B": b}) as server:
        rollout = make_rollout(staging_url=server.url)
        client.force_login(people["oscar"])
        client.post(
            f"/rollouts/{rollout.pk}/items/p2-tokens/check/",
            {"token_a": "eyJ-secret-A", "token_b": "eyJ-secret-B"},
        )
    checked = Item.objects.get(rollout=rollout, key="p2-tokens")
    assert checked.status == "pass", checked.summary
    assert checked.numbers["token 1 vaults"] == a
    with connection.cursor() as cursor:
        for table in (
            "rollouts_item",
            "rollouts_event",
            "migrations_ui_auditrecord",
            "rollouts_signoff",
            "django_session",
        ):
            cursor.execute(f"SELECT * FROM {table}")
            assert "eyJ-secret" not in repr(cursor.fetchall()), table
    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "eyJ-secret" not in page
    assert Event.objects.filter(kind="check", item_key="p2-tokens", outcome="pass").exists()


def test_rolloutreport_command_writes_and_verifies(tmp_path, metamorph_db):
    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    env = two_databases_env(tmp_path, staging, production)
    missing = manage("rolloutreport", "nope", env=env)
    assert missing.returncode == 1 and "No rollout called 'nope'" in missing.stderr
    create_rollout_from_the_shell(env, "q4 move")
    out = tmp_path / "review.html"
    done = manage("rolloutreport", "q4 move", "--format", "html", "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "content-sha256" in done.stderr and out.read_text().startswith("<!doctype html>")
    verified = manage("rolloutreport", "--verify", str(out), env=env)
    assert verified.returncode == 0 and "unchanged since this dashboard issued it" in (
        verified.stdout
    )
    assert "exported by cli-admin from the command line" in verified.stdout
    out.write_text(out.read_text().replace("q4 move", "q3 move"))
    tampered = manage("rolloutreport", "--verify", str(out), env=env)
    assert tampered.returncode == 1 and "was changed after it was written" in tampered.stderr
    md = manage("rolloutreport", "q4 move", env=env)
    assert md.stdout.startswith("<!-- metamorph-admin rollout report")
    assert "## Phase 5: Cleanup" in md.stdout
    as_json = json.loads(manage("rolloutreport", "q4 move", "--format", "json", env=env).stdout)
    assert as_json["rollout"]["databases"][1]["path"] == production


def test_rolloutreport_is_audited_and_recorded_as_the_named_operator(tmp_path, metamorph_db):
    import sqlite3

    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    env = two_databases_env(tmp_path, staging, production)
    admin = env["DATABASE_URL"].removeprefix("sqlite:///")
    create_rollout_from_the_shell(env, "r1")
    done = manage("rolloutreport", "r1", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    digest = json.loads(done.stdout)["content_sha256"]
    conn = sqlite3.connect(admin)
    rows = conn.execute(
        "SELECT action, origin, target, parameters FROM migrations_ui_auditrecord "
        "WHERE action = 'rollout-report'"
    ).fetchall()
    exported = conn.execute("SELECT exported_by, origin, sha256 FROM rollouts_reportexport")
    assert exported.fetchall() == [("cli-admin", "cli", digest)]
    conn.close()
    refused = manage("rolloutreport", "r1", env={**env, "METAMORPH_OPERATOR": ""})
    assert refused.returncode == 1 and "--operator NAME" in refused.stderr
    assert [(a, o, t) for a, o, t, _ in rows] == [("rollout-report", "cli", "r1")]
    assert json.loads(rows[0][3]) == {"format": "json", "sha256": digest}
