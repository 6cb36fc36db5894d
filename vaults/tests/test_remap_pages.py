"""The Remap page: preview stored, executed and undone as jobs, by admins only."""

import csv
import io
import os
import re
import sqlite3

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conftest import sql
from metamorph_admin.models import AuditRecord, Job
from metamorph_admin.tests.job_helpers import user_with_role
from vaults.models import RemapPlanRecord


@pytest.fixture
def admin(client, db, settings, tmp_path):
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    client.force_login(user_with_role("admin"))
    return client


def use(settings, path):
    settings.METAMORPH_DATABASE_PATH = path
    return path


def default_rows(path):
    tables = [
        r[0]
        for r in sql(
            path,
            "SELECT m.name FROM sqlite_master m WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'",
        )
    ]
    return sum(
        sql(path, f"SELECT COUNT(*) FROM {t} WHERE vault_id = 'default-vault'")[0][0]
        for t in tables
    )


def preview_mapping(client, text, unattributed="leave", **fields):
    """POST a mapping file's text as the Remap page's form does; the response."""
    upload = SimpleUploadedFile("m.csv", text.encode(), content_type="text/csv")
    return client.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {"source": "default-vault", "mapping": upload, "unattributed": unattributed, **fields},
    )


def preview_move(client, target, source="default-vault"):
    return client.post(
        reverse("vaults:remap_preview", args=["move"]), {"source": source, "target": target}
    )


def test_viewer_sees_the_audit_but_cannot_preview(client, db, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    client.force_login(user_with_role("viewer"))
    page = client.get(reverse("vaults:remap")).content.decode()
    assert 'id="isolation-audit"' in page and "clean" in page
    assert preview_move(client, "alice").status_code == 403
    assert not RemapPlanRecord.objects.exists()


def test_move_preview_counts_every_default_vault_row_and_execute_moves_them(
    admin, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    expected = default_rows(path)
    response = preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    assert response.url == reverse("vaults:remap_plan", args=[record.plan_id])
    page = admin.get(response.url).content.decode()
    assert re.search(r'id="moves-total">([\d,]+)', page).group(1) == f"{expected:,}"
    assert default_rows(path) == expected  # a preview writes nothing
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {"plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)},
    )
    job = Job.objects.get(kind="remap")
    assert job.state == "succeeded", job.error
    assert job.result["moved_total"] == expected and job.result["audit_clean"] is True
    assert job.result["longest_transaction_s"] < 1
    assert default_rows(path) == 0
    admin.post(
        reverse("core:start_job", args=["remap-undo"]),
        {"plan_id": record.plan_id, "confirm": os.path.basename(path)},
    )
    assert Job.objects.get(kind="remap-undo").state == "succeeded"
    assert default_rows(path) == expected


def test_an_invalid_target_vault_is_a_form_error_and_nothing_is_stored(
    admin, settings, metamorph_db
):
    use(settings, metamorph_db("migrated"))
    page = preview_move(admin, "alice:bob").content.decode()
    assert "session keys" in page and "&lt;vault&gt;:&lt;session&gt;" in page
    assert not RemapPlanRecord.objects.exists()


def test_a_mapping_file_with_a_wrong_header_names_the_line(admin, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    upload = SimpleUploadedFile("map.csv", b"user,vault\nx,alice\n", content_type="text/csv")
    page = admin.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {"source": "default-vault", "mapping": upload},
    ).content.decode()
    assert "line 1" in page and "conversation_id,vault_id" in page
    assert not RemapPlanRecord.objects.exists()


def test_a_mapping_file_moves_conversations_with_their_messages(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    conv = sql(path, "SELECT id FROM conversations WHERE vault_id = 'default-vault' LIMIT 1")[0][0]
    messages = sql(path, "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conv,))[0][0]
    upload = SimpleUploadedFile("map.csv", f"conversation_id,vault_id\n{conv},carol\n".encode())
    admin.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {"source": "default-vault", "mapping": upload},
    )
    record = RemapPlanRecord.objects.get()
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {"plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)},
    )
    assert Job.objects.get(kind="remap").state == "succeeded"
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'carol'")[0][0] == messages
    assert sql(path, "SELECT vault_id FROM conversations WHERE id = ?", (conv,)) == [("carol",)]


def test_executing_a_plan_after_the_server_wrote_moves_the_new_rows_too(
    admin, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO conversations (id, stance, config, created_at, updated_at) "
        "VALUES ('late', '{}', '{}', 't', 't')"
    )
    conn.commit()
    conn.close()
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {"plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)},
    )
    job = Job.objects.get(kind="remap")
    assert job.state == "succeeded", job.error
    assert job.result["tables"]["conversations"]["added_since_preview"] == 1
    assert sql(path, "SELECT vault_id FROM conversations WHERE id = 'late'") == [("alice",)]
    assert default_rows(path) == 0
    page = admin.get(reverse("core:job", args=[job.pk])).content.decode()
    assert "Preview vs actual, per table" in page and "added since preview" in page
    assert "longest write-lock hold" in page


def test_a_wrong_typed_name_executes_nothing(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {"plan_id": record.plan_id, "mode": "online", "confirm": "nope.db"},
    )
    assert not Job.objects.exists()
    assert default_rows(path) > 0


def test_a_legacy_database_explains_that_migration_comes_first(admin, settings, metamorph_db):
    use(settings, metamorph_db("legacy"))
    response = admin.get(reverse("vaults:remap"))
    assert response.status_code == 200
    assert "001" in response.content.decode()


def test_fast_commits_need_the_backup_first(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {
            "plan_id": record.plan_id,
            "mode": "online",
            "fast": "on",
            "confirm": os.path.basename(path),
        },
    )
    assert not Job.objects.exists()
    admin.post(
        reverse("core:start_job", args=["remap"]),
        {
            "plan_id": record.plan_id,
            "mode": "online",
            "fast": "on",
            "take_backup": "on",
            "confirm": os.path.basename(path),
        },
    )
    job = Job.objects.get(kind="remap")
    assert job.state == "succeeded", job.error
    assert job.result["durability"] == "fast" and job.result["backup"]
    assert default_rows(path) == 0


def test_refused_previews_are_audited_with_the_reason_and_the_file_by_name(
    admin, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice:bob")
    upload = SimpleUploadedFile("map.csv", b"user,vault\nx,alice\n", content_type="text/csv")
    admin.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {"source": "default-vault", "mapping": upload},
    )
    bad_target, bad_csv = AuditRecord.objects.order_by("id")
    assert (bad_target.action, bad_target.outcome, bad_target.target) == (
        "remap-preview",
        "refused",
        path,
    )
    assert bad_target.parameters == {"source": "default-vault", "target": "alice:bob"}
    assert "session keys" in bad_target.message
    assert bad_csv.parameters == {"source": "default-vault", "mapping": "(file map.csv, 19 bytes)"}
    assert "line 1" in bad_csv.message


def test_a_real_files_preview_names_found_ids_and_unattributable_rows(
    admin, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated", sessions=30, vaults=1, shape="observed"))
    page = admin.get(reverse("vaults:remap")).content.decode()
    assert 'name="unattributed"' in page and 'value="copy-identity"' in page
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions")]
    upload = SimpleUploadedFile(
        "m.csv",
        ("conversation_id,vault_id\n" + "".join(f"{s},user-ann\n" for s in sessions)).encode(),
        content_type="text/csv",
    )
    response = admin.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {
            "source": "default-vault",
            "mapping": upload,
            "unattributed": "send",
            "unattributed_vault": "team",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = admin.get(response.url).content.decode()
    assert 'id="plan-mapping-ids"' in plan and "sessions.id" in plan
    assert 'id="unattributed-policy">send</strong> → <code>team</code>' in plan
    ops = sql(path, "SELECT COUNT(*) FROM operator_performance")[0][0]
    assert re.search(r"<td>operator_performance</td><td class=\"num\">(\d+)</td>", plan).group(
        1
    ) == str(ops)


def test_send_without_a_vault_is_a_form_error(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated", sessions=30, vaults=1, shape="observed"))
    sid = sql(path, "SELECT id FROM sessions LIMIT 1")[0][0]
    page = preview_mapping(admin, f"session_id,vault_id\n{sid},user-ann\n", "send")
    page = page.content.decode()
    assert "needs the vault the rows that cannot be attributed go to" in page
    assert not RemapPlanRecord.objects.exists()


def test_the_plan_exports_where_every_mapping_id_was_found_as_csv(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated", sessions=30, vaults=1, shape="observed"))
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions ORDER BY id")]
    lonely = sql(
        path,
        "SELECT conversation_id FROM evolution_snapshots WHERE conversation_id "
        "NOT IN (SELECT id FROM sessions) LIMIT 1",
    )[0][0]
    ids = sessions + [lonely, "=HYPERLINK(1)"]
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO evolution_snapshots (id, conversation_id, stance, trigger, "
        "drift_at_snapshot, timestamp) VALUES ('s', '=HYPERLINK(1)', '{}', 'x', 1, 't')"
    )
    conn.commit()
    upload = SimpleUploadedFile(
        "m.csv",
        ("conversation_id,vault_id\n" + "".join(f"{s},user-ann\n" for s in ids)).encode(),
        content_type="text/csv",
    )
    response = admin.post(
        reverse("vaults:remap_preview", args=["mapping"]),
        {"source": "default-vault", "mapping": upload},
    )
    plan_id = RemapPlanRecord.objects.get().plan_id
    assert 'id="mapping-ids-csv"' in admin.get(response.url).content.decode()
    export = admin.get(reverse("vaults:remap_mapping_ids", args=[plan_id]))
    text = b"".join(export.streaming_content).decode()
    rows = [line.split(",", 3) for line in text.strip().splitlines()]
    assert rows[0] == ["line", "conversation_id", "vault_id", "found_in"]
    found = {r[1]: r[3] for r in rows[1:]}
    assert len(found) == len(ids)
    assert "sessions.id" in found[sessions[0]]
    assert "evolution_snapshots.conversation_id" in found[lonely]
    assert "sessions.id" not in found[lonely]
    assert "'=HYPERLINK(1)" in found  # shown as text, never run by a spreadsheet


def test_the_plan_page_says_why_rows_stay_in_words_not_internal_codes(
    admin, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated", sessions=30, vaults=1, shape="observed"))
    first = sql(path, "SELECT id FROM sessions ORDER BY id LIMIT 1")[0][0]
    response = preview_mapping(admin, f"session_id,vault_id\n{first},user-ann\n")
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = admin.get(response.url).content.decode()
    stays = plan.split('id="plan-stays"')[1].split("</table>")[0]
    assert "no rule reaches its conversation or session" in stays
    for code in ("not_reached", "no_link", "unattributable"):
        assert f">{code}<" not in stays, code


def test_the_source_vaults_ids_download_is_a_mapping_file_ready_to_fill(
    admin, settings, metamorph_db
):
    # The operator had to use sqlite3 to find the ids a mapping file needs.
    path = use(settings, metamorph_db("migrated", sessions=30, vaults=1, shape="observed"))
    page = admin.get(reverse("vaults:remap")).content.decode()
    assert 'id="source-ids-csv"' in page
    response = admin.get(reverse("vaults:remap_source_ids"), {"source": "default-vault"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["conversation_id", "vault_id", "rows", "found_in"]
    by_id = {r[0]: r for r in rows[1:]}
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions WHERE vault_id = 'default-vault'")]
    assert set(sessions) <= set(by_id) and all(by_id[s][1] == "" for s in sessions)
    first = sessions[0]
    assert int(by_id[first][2]) >= 1 and "sessions.id" in by_id[first][3]
    assert sum(int(r[2]) for r in rows[1:]) >= len(sessions)

    rows[1][1] = "user-ann"  # fill in one id, leave the rest empty
    filled = io.StringIO()
    csv.writer(filled).writerows(rows)
    preview = preview_mapping(admin, filled.getvalue())
    assert preview.status_code == 302, preview.content.decode()[:3000]
    plan = admin.get(preview.url).content.decode()
    assert "<code>user-ann</code>" in plan
