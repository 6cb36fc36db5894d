"""The Remap page: preview stored, executed and undone as jobs, by admins only."""
import os
import re
import sqlite3

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conftest import sql
from metamorph_admin.models import Job
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
    tables = [r[0] for r in sql(path, "SELECT m.name FROM sqlite_master m WHERE type='table' "
                                      "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'")]
    return sum(sql(path, f"SELECT COUNT(*) FROM {t} WHERE vault_id = 'default-vault'")[0][0]
               for t in tables)


def preview_move(client, target, source="default-vault"):
    return client.post(reverse("vaults:remap_preview", args=["move"]),
                       {"source": source, "target": target})


def test_viewer_sees_the_audit_but_cannot_preview(client, db, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    client.force_login(user_with_role("viewer"))
    page = client.get(reverse("vaults:remap")).content.decode()
    assert 'id="isolation-audit"' in page and "clean" in page
    assert preview_move(client, "alice").status_code == 403
    assert not RemapPlanRecord.objects.exists()


def test_move_preview_counts_every_default_vault_row_and_execute_moves_them(admin, settings,
                                                                             metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    expected = default_rows(path)
    response = preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    assert response.url == reverse("vaults:remap_plan", args=[record.plan_id])
    page = admin.get(response.url).content.decode()
    assert re.search(r'id="moves-total">([\d,]+)', page).group(1) == f"{expected:,}"
    assert default_rows(path) == expected  # a preview writes nothing
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)})
    job = Job.objects.get(kind="remap")
    assert job.state == "succeeded", job.error
    assert job.result["moved_total"] == expected and job.result["audit_clean"] is True
    assert job.result["longest_transaction_s"] < 1
    assert default_rows(path) == 0
    admin.post(reverse("core:start_job", args=["remap-undo"]), {
        "plan_id": record.plan_id, "confirm": os.path.basename(path)})
    assert Job.objects.get(kind="remap-undo").state == "succeeded"
    assert default_rows(path) == expected


def test_an_invalid_target_vault_is_a_form_error_and_nothing_is_stored(admin, settings,
                                                                       metamorph_db):
    use(settings, metamorph_db("migrated"))
    page = preview_move(admin, "alice:bob").content.decode()
    assert "session keys" in page and "&lt;vault&gt;:&lt;session&gt;" in page
    assert not RemapPlanRecord.objects.exists()


def test_a_mapping_file_with_a_wrong_header_names_the_line(admin, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    upload = SimpleUploadedFile("map.csv", b"user,vault\nx,alice\n", content_type="text/csv")
    page = admin.post(reverse("vaults:remap_preview", args=["mapping"]),
                      {"source": "default-vault", "mapping": upload}).content.decode()
    assert "line 1" in page and "conversation_id,vault_id" in page
    assert not RemapPlanRecord.objects.exists()


def test_a_mapping_file_moves_conversations_with_their_messages(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    conv = sql(path, "SELECT id FROM conversations WHERE vault_id = 'default-vault' LIMIT 1")[0][0]
    messages = sql(path, "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conv,))[0][0]
    upload = SimpleUploadedFile("map.csv", f"conversation_id,vault_id\n{conv},carol\n".encode())
    admin.post(reverse("vaults:remap_preview", args=["mapping"]),
               {"source": "default-vault", "mapping": upload})
    record = RemapPlanRecord.objects.get()
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)})
    assert Job.objects.get(kind="remap").state == "succeeded"
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = 'carol'")[0][0] == messages
    assert sql(path, "SELECT vault_id FROM conversations WHERE id = ?", (conv,)) == [("carol",)]


def test_executing_a_plan_after_the_data_changed_is_refused(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO conversations (id, stance, config, created_at, updated_at) "
                 "VALUES ('late', '{}', '{}', 't', 't')")
    conn.commit()
    conn.close()
    before = default_rows(path)
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "confirm": os.path.basename(path)})
    job = Job.objects.get(kind="remap")
    assert job.state == "failed" and "preview again" in job.error.lower()
    assert default_rows(path) == before


def test_a_wrong_typed_name_executes_nothing(admin, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    preview_move(admin, "alice")
    record = RemapPlanRecord.objects.get()
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "confirm": "nope.db"})
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
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "fast": "on",
        "confirm": os.path.basename(path)})
    assert not Job.objects.exists()
    admin.post(reverse("core:start_job", args=["remap"]), {
        "plan_id": record.plan_id, "mode": "online", "fast": "on", "take_backup": "on",
        "confirm": os.path.basename(path)})
    job = Job.objects.get(kind="remap")
    assert job.state == "succeeded", job.error
    assert job.result["durability"] == "fast" and job.result["backup"]
    assert default_rows(path) == 0
