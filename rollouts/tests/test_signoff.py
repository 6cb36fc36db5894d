"""Items checked by the tool, attested items, and the four-eyes sign-off rules."""

import os
import re
import sqlite3

import pytest

from conftest import sql
from metamorph import backup
from metamorph_admin import databases
from metamorph_admin.models import AuditRecord
from rollouts import services
from rollouts.models import Item, SignOff
from rollouts.tests.helpers import attest_all, make_rollout, operate


def item(rollout, key):
    return Item.objects.get(rollout=rollout, key=key)


def test_a_new_rollout_has_every_guide_item_not_run_or_open(dbs, people):
    rollout = make_rollout()
    statuses = dict(rollout.items.values_list("key", "status"))
    assert statuses["checklist-backup"] == "not-run"
    assert statuses["checklist-staging"] == "open"
    assert statuses["p3-dev-mode-off"] == "open"  # no server URL: attested instead
    assert set(rollout.items.values_list("phase", flat=True)) == {0, 1, 2, 3, 4, 5}


def test_backup_check_fails_then_passes_with_the_backup_and_its_numbers(dbs, people):
    rollout = make_rollout()
    first = services.run_check(rollout, "checklist-backup", actor="oscar")
    assert first.status == "fail" and "No verified backup" in first.summary
    assert first.last_passed_at is None
    job = operate("backup", dbs["production"], "oscar")
    again = services.run_check(rollout, "checklist-backup", actor="oscar")
    assert again.status == "pass" and again.last_passed_at is not None
    assert again.numbers["backup"] == job.result["name"]
    tables = [
        r[0]
        for r in sql(
            dbs["production"],
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'",
        )
    ]
    assert again.numbers["rows"] == sum(
        sql(dbs["production"], f'SELECT COUNT(*) FROM "{t}"')[0][0] for t in tables
    )
    assert any(f"/jobs/{job.pk}/" in e.get("url", "") for e in again.evidence)
    counts = services.run_check(rollout, "checklist-row-counts", actor="oscar")
    assert counts.status == "pass"
    assert (
        counts.numbers["messages rows"]
        == sql(dbs["production"], "SELECT COUNT(*) FROM messages")[0][0]
    )


def test_a_staging_backup_does_not_count_for_production(dbs, people):
    rollout = make_rollout()
    operate("backup", dbs["staging"], "oscar")
    assert services.run_check(rollout, "checklist-backup", actor="oscar").status == "fail"
    assert services.run_check(rollout, "p2-backup", actor="oscar").status == "pass"


def test_rehearsal_is_compared_with_the_planned_downtime(dbs, people):
    rollout = make_rollout(planned_downtime_minutes=5)
    operate("rehearsal", dbs["production"], "oscar")
    checked = services.run_check(rollout, "checklist-downtime", actor="oscar")
    assert checked.status == "pass", checked.summary
    assert checked.numbers["planned downtime (s)"] == 300
    assert 0 < checked.numbers["measured downtime (s)"] < 300
    rollout.planned_downtime_minutes = 0.0000001
    rollout.save()
    tight = services.run_check(rollout, "checklist-downtime", actor="oscar")
    assert tight.status == "fail" and "more than the planned" in tight.summary


def test_migration_index_and_isolation_checks_follow_the_real_file(dbs, people):
    rollout = make_rollout()
    assert services.run_check(rollout, "p2-migration", actor="oscar").status == "fail"
    assert services.run_check(rollout, "p2-isolation", actor="oscar").status == "fail"
    job = operate("migration", dbs["staging"], "mia", take_backup=True)
    migrated = services.run_check(rollout, "p2-migration", actor="oscar")
    assert migrated.status == "pass", migrated.summary
    assert any(f"/jobs/{job.pk}/" in e["url"] for e in migrated.evidence)
    indexes = services.run_check(rollout, "p2-indexes", actor="oscar")
    assert indexes.status == "pass", indexes.summary
    assert indexes.numbers["using an index"] == indexes.numbers["vault queries planned"] > 0
    assert any("USING" in e.get("text", "") for e in indexes.evidence)
    assert services.run_check(rollout, "p2-isolation", actor="oscar").status == "pass"
    conn = sqlite3.connect(dbs["staging"])
    conn.execute("DROP INDEX idx_messages_vault_conversation")
    conn.commit()
    conn.close()
    broken = services.run_check(rollout, "p2-indexes", actor="oscar")
    assert broken.status == "fail" and "idx_messages_vault_conversation" in broken.summary
    assert broken.last_passed_at == indexes.last_passed_at  # still shows when it last passed


def _ready_checklist(rollout, dbs):
    operate("backup", dbs["production"], "oscar")
    operate("rehearsal", dbs["production"], "oscar")
    attest_all(rollout, 0)


def _refused(client, url, says):
    response = client.post(url, follow=True)
    page = response.content.decode()
    assert says in page, page[:3000]
    return page


def test_sign_off_rules_are_refused_with_a_message_and_audited(client, dbs, people):
    rollout = make_rollout()
    client.force_login(people["ada"])
    base = f"/rollouts/{rollout.pk}/phases"
    _refused(client, f"{base}/1/sign/", "phases are reviewed in order")
    _refused(client, f"{base}/0/sign/", "not attested yet")
    _ready_checklist(rollout, dbs)
    operate("backup", dbs["production"], "ada")  # ada now ran an operation of the checklist
    _refused(client, f"{base}/0/sign/", "ada ran operations of Pre-migration checklist")
    client.force_login(people["mia"])
    client.post(f"{base}/0/sign/")
    signed = SignOff.objects.get()
    assert signed.signed_by == "mia" and signed.phase == 0
    assert {e["key"] for e in signed.evidence} == set(
        rollout.items.filter(phase=0).values_list("key", flat=True)
    )
    _refused(client, f"{base}/0/sign/", "signed already")
    _refused(client, f"{base}/0/reopen/", "needs a reason")
    refused = AuditRecord.objects.filter(
        action__in=["rollout-sign", "rollout-reopen"], outcome="refused"
    )
    assert refused.count() == 5
    assert all(r.target == "move to vaults" and r.message for r in refused)
    client.post(f"{base}/0/reopen/", {"reason": "backup was taken on the wrong volume"})
    reopened = SignOff.objects.get()
    assert reopened.reopened_by == "mia" and "wrong volume" in reopened.reopen_reason
    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "Re-opened by <strong>mia</strong>" in page and "wrong volume" in page


def test_a_failing_check_blocks_the_signature(client, dbs, people):
    rollout = make_rollout(backup_max_age_hours=24)
    attest_all(rollout, 0)
    operate("rehearsal", dbs["production"], "oscar")
    client.force_login(people["mia"])
    page = _refused(client, f"/rollouts/{rollout.pk}/phases/0/sign/", "cannot be signed while")
    assert "No verified backup" in page
    assert not SignOff.objects.exists()


def test_viewer_reads_operator_checks_only_admin_signs(client, dbs, people):
    rollout = make_rollout()
    client.force_login(people["vera"])
    assert client.get(f"/rollouts/{rollout.pk}/").status_code == 200
    denied = client.post(f"/rollouts/{rollout.pk}/items/checklist-backup/check/")
    assert denied.status_code == 403 and "operator role" in denied.content.decode()
    client.force_login(people["oscar"])
    assert client.post(f"/rollouts/{rollout.pk}/items/checklist-backup/check/").status_code == 302
    denied = client.post(f"/rollouts/{rollout.pk}/phases/0/sign/")
    assert denied.status_code == 403 and "admin role" in denied.content.decode()
    assert set(AuditRecord.objects.filter(outcome="refused").values_list("actor", "action")) == {
        ("vera", "rollout-check"),
        ("oscar", "rollout-sign"),
    }


def test_two_reviewers_attesting_at_once_lose_nothing(client, dbs, people):
    rollout = make_rollout()
    version = item(rollout, "checklist-staging").version
    client.force_login(people["oscar"])
    url = f"/rollouts/{rollout.pk}/items/checklist-staging/attest/"
    client.post(url, {"note": "staging cloned from prod on Monday", "version": version})
    client.force_login(people["mia"])
    clash = client.post(url, {"note": "staging has the 2 GB copy", "version": version})
    page = clash.content.decode()
    assert clash.status_code == 409
    assert "staging cloned from prod on Monday" in page  # the first reviewer's change
    assert "staging has the 2 GB copy" in page  # the second's text, kept
    saved = item(rollout, "checklist-staging")
    assert saved.note == "staging cloned from prod on Monday" and saved.attested_by == "oscar"
    client.post(url, {"note": "staging has the 2 GB copy", "version": saved.version})
    assert item(rollout, "checklist-staging").note == "staging has the 2 GB copy"


def test_an_attestation_needs_a_note(client, dbs, people):
    rollout = make_rollout()
    client.force_login(people["oscar"])
    page = _refused(
        client, f"/rollouts/{rollout.pk}/items/checklist-staging/attest/", "needs a note"
    )
    assert item(rollout, "checklist-staging").status == "open"
    assert "needs a note" in page


def test_a_removed_database_keeps_its_rollout_readable(client, dbs, people, settings):
    rollout = make_rollout()
    services.run_check(rollout, "checklist-backup", actor="oscar")
    settings.METAMORPH_DATABASES = [("staging", dbs["staging"])]
    client.force_login(people["oscar"])
    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "no longer configured" in page and dbs["production"] in page
    refused = _refused(
        client,
        f"/rollouts/{rollout.pk}/items/checklist-backup/check/",
        "no longer in METAMORPH_DATABASES",
    )
    assert "No verified backup" in refused  # the last result is still shown
    attest_all(rollout, 0)
    client.force_login(people["mia"])
    _refused(client, f"/rollouts/{rollout.pk}/phases/0/sign/", "no longer in METAMORPH_DATABASES")
    assert not SignOff.objects.exists()
    report = client.get(f"/rollouts/{rollout.pk}/report.json")
    assert report.status_code == 200


@pytest.mark.parametrize("bad", ["/rollouts/1/items/nope/check/", "/rollouts/1/phases/9/sign/"])
def test_unknown_items_and_phases_are_404_not_500(client, dbs, people, bad):
    make_rollout()
    client.force_login(people["ada"])
    assert client.post(bad).status_code == 404


def test_two_reviewers_editing_settings_at_once_lose_nothing(client, dbs, people):
    rollout = make_rollout()
    url = f"/rollouts/{rollout.pk}/settings/"
    form = {
        "staging_url": "http://stage.example:3000",
        "production_url": "",
        "backup_max_age_hours": 12,
        "planned_downtime_minutes": 5,
        "version": rollout.version,
    }
    client.force_login(people["oscar"])
    assert client.post(url, form).status_code == 302
    client.force_login(people["mia"])
    clash = client.post(url, {**form, "staging_url": "", "backup_max_age_hours": 48})
    page = clash.content.decode()
    assert clash.status_code == 409
    assert "http://stage.example:3000" in page  # the first reviewer's change
    assert 'value="48.0"' in page or 'value="48"' in page  # the second's, kept
    rollout.refresh_from_db()
    assert rollout.staging_url == "http://stage.example:3000" and rollout.backup_max_age_hours == 12
    assert item(rollout, "p1-server").status == "not-run"  # a URL: the live check applies
    client.post(url, {**form, "staging_url": "", "version": rollout.version})
    rollout.refresh_from_db()
    assert rollout.staging_url == "" and item(rollout, "p1-server").status == "open"
    bad = client.post(url, {**form, "staging_url": "ftp://x", "version": rollout.version})
    assert bad.status_code == 400 and "is not an http(s) URL" in bad.content.decode()


def test_the_list_says_where_each_rollout_is_and_bad_input_is_a_form_error(client, dbs, people):
    rollout = make_rollout()
    client.force_login(people["oscar"])
    page = client.get("/rollouts/").content.decode()
    assert "move to vaults" in page and "Pre-migration checklist" in page
    same = client.post(
        "/rollouts/new/",
        {
            "name": "x",
            "staging": "staging",
            "production": "staging",
            "backup_max_age_hours": 24,
            "planned_downtime_minutes": 5,
        },
    )
    assert same.status_code == 400 and "two different databases" in same.content.decode()
    dup = client.post(
        "/rollouts/new/",
        {
            "name": "move to vaults",
            "staging": "staging",
            "production": "production",
            "backup_max_age_hours": 24,
            "planned_downtime_minutes": 5,
        },
    )
    assert dup.status_code == 400 and "exists already" in dup.content.decode()
    unknown = client.post(
        "/rollouts/new/",
        {
            "name": "y",
            "staging": "qa",
            "production": "production",
            "backup_max_age_hours": -1,
            "planned_downtime_minutes": 5,
        },
    )
    assert unknown.status_code == 400
    assert rollout.__class__.objects.count() == 1


@pytest.mark.parametrize("damage", ["missing", "not-sqlite", "empty"])
def test_a_damaged_database_file_is_a_failed_item_with_its_cause(dbs, people, damage):
    import os

    rollout = make_rollout()
    path = dbs["production"]
    os.remove(path)
    if damage == "not-sqlite":
        open(path, "w").write("this is a text file, not a database\n" * 200)
    elif damage == "empty":
        open(path, "w").close()
    for key in (
        "checklist-backup",
        "p3-migration",
        "p3-indexes",
        "p3-legacy",
        "p4-remap",
        "p4-isolation",
        "p5-leftovers",
    ):
        outcome = services.run_check(rollout, key, actor="oscar")
        assert outcome.status in ("fail", "info"), (key, outcome.summary)
        if key not in ("checklist-backup", "p4-remap"):
            assert outcome.status == "fail" and path in outcome.summary, (key, outcome.summary)


def test_an_operator_runs_a_whole_phase_of_checks_at_once(client, dbs, people):
    rollout = make_rollout()
    operate("backup", dbs["staging"], "oscar")
    client.force_login(people["oscar"])
    response = client.post(f"/rollouts/{rollout.pk}/phases/2/check/", follow=True)
    page = response.content.decode()
    assert "1 of 4 checks pass" in page and "Migrations applied and verified on staging" in page
    statuses = dict(rollout.items.filter(phase=2).values_list("key", "status"))
    assert statuses == {
        "p2-backup": "pass",
        "p2-migration": "fail",
        "p2-indexes": "fail",
        "p2-isolation": "fail",
        "p2-tokens": "open",
    }
    record = AuditRecord.objects.get(action="rollout-check")
    assert record.outcome == "failure" and record.parameters == {"phase": 2, "items": 4}


def test_the_database_keeps_one_standing_signature_per_phase(dbs, people):
    from django.db import IntegrityError, transaction

    rollout = make_rollout()
    SignOff.objects.create(
        rollout=rollout, phase=0, signed_by="mia", evidence=[], evidence_sha256="x"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SignOff.objects.create(
            rollout=rollout, phase=0, signed_by="ada", evidence=[], evidence_sha256="y"
        )
    SignOff.objects.filter(phase=0).update(reopened_at="2026-01-01T00:00Z", reopen_reason="r")
    SignOff.objects.create(
        rollout=rollout, phase=0, signed_by="ada", evidence=[], evidence_sha256="z"
    )
    assert services.standing_signoff(rollout, 0).signed_by == "ada"


def test_an_overlong_note_or_a_tampered_version_says_what_is_wrong(client, dbs, people):
    rollout = make_rollout()
    client.force_login(people["oscar"])
    url = f"/rollouts/{rollout.pk}/items/checklist-staging/attest/"
    long = client.post(url, {"note": "x" * 5000, "version": 1}, follow=True).content.decode()
    assert "at most 4000 characters" in long
    bad = client.post(url, {"note": "fine", "version": "abc"}, follow=True).content.decode()
    assert "Enter a whole number" in bad
    assert item(rollout, "checklist-staging").status == "open"


def test_a_backup_taken_after_the_migration_does_not_pass_backup_before_migrating(dbs, people):
    # It passed with a backup taken after the migration, and nothing said production was
    # already migrated.
    rollout = make_rollout()
    operate("migration", dbs["production"], "oscar", take_backup=True)
    before = services.run_check(rollout, "checklist-backup", actor="oscar")
    assert before.status == "pass", before.summary
    assert "Production is already migrated" in before.summary
    assert "was taken before the migration" in before.summary

    for entry in backup.list_backups(databases.get("production").backup_dir):
        os.unlink(entry["path"])
        os.unlink(entry["path"] + ".json")
    operate("backup", dbs["production"], "oscar")
    after = services.run_check(rollout, "checklist-backup", actor="oscar")
    assert after.status == "fail"
    assert "Production is already migrated (001_add_vault_id, 002_add_vercel_sandbox_tables" in (
        after.summary
    )
    assert "no verified backup" in after.summary and "was taken before the migration" in (
        after.summary
    )


def test_backup_evidence_numbers_use_the_one_format_of_every_page(dbs, people, client):
    # The page showed "size (bytes) 30433280", "rows 22312" and a sha256 cut to 16 characters.
    rollout = make_rollout()
    operate("backup", dbs["production"], "oscar")
    checked = services.run_check(rollout, "checklist-backup", actor="oscar")
    assert "size (bytes)" not in checked.numbers
    assert re.fullmatch(r"[\d.]+ (kB|MB|GB)", checked.numbers["size"])
    assert len(checked.numbers["sha256"]) == 64
    client.force_login(people["vera"])
    html = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert f'<td class="num">{checked.numbers["rows"]:,}</td>' in html
    assert checked.numbers["sha256"] in html


def test_a_missing_item_reason_is_never_cut_mid_word(dbs, people):
    rollout = make_rollout()
    services.run_check(rollout, "checklist-backup", actor="oscar")
    (reason,) = [b for b in services.blockers(rollout, 0) if "Verified backup" in b]
    summary = item(rollout, "checklist-backup").summary
    shown = reason.split(": failing (", 1)[1].rstrip(")")
    if shown.endswith("…"):
        kept = shown[:-1]
        assert summary.startswith(kept) and summary[len(kept)] == " ", shown
    else:
        assert shown == summary
