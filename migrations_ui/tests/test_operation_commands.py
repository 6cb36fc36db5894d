"""runmigration, backupdb, listbackups, restorebackup as real subprocesses an operator runs."""

import hashlib
import json
import os
import re
import sqlite3

import pytest

from conftest import sql
from metamorph.testing.lockers import leave_hot_journal
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db


@pytest.fixture
def run(tmp_path):
    admin = migrated_admin_db(tmp_path)
    backups = tmp_path / "backups"

    def call(*args, **env):
        return manage(
            *args,
            env={"DATABASE_URL": f"sqlite:///{admin}", "METAMORPH_BACKUP_DIR": str(backups), **env},
        )

    call.admin = admin
    call.backups = backups
    return call


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_list_and_plan_show_pending_migrations_without_writing(run, metamorph_db):
    path = metamorph_db("legacy")
    before = digest(path)
    listed = run("runmigration", "--db", path, "--list")
    assert listed.returncode == 0
    assert "001_add_vault_id                 pending" in listed.stdout
    plan = run("runmigration", "--db", path, "--plan")
    assert plan.returncode == 0, plan.stderr
    assert "ALTER TABLE \"sessions\" ADD COLUMN vault_id TEXT NOT NULL DEFAULT 'default-vault'" in (
        plan.stdout
    )
    assert "Metamorph's guide estimates" in plan.stdout
    assert digest(path) == before


def test_list_names_a_checksum_from_another_build_without_calling_it_an_error(run, metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE schema_migrations SET checksum = 'abc123' WHERE id = "
        "'002_add_vercel_sandbox_tables'"
    )
    conn.commit()
    conn.close()
    listed = run("runmigration", "--db", path, "--list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "checksum 6b21027c (same as Metamorph's build)" in lines["001_add_vault_id"]
    assert "checksum abc123 (applied by another build)" in lines["002_add_vercel_sandbox_tables"]


def test_run_without_a_backup_is_refused_and_changes_nothing(run, metamorph_db):
    path = metamorph_db("legacy")
    before = digest(path)
    result = run("runmigration", "--db", path)
    assert result.returncode == 1
    assert "no verified backup found" in result.stderr and "--backup" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(path) == before
    jobs = sql(str(run.admin), "SELECT kind, state, origin FROM migrations_ui_job")
    assert jobs == [("migration", "failed", "cli")]


def test_run_with_backup_migrates_verifies_and_records_the_job(run, metamorph_db):
    path = metamorph_db("legacy")
    result = run("runmigration", "--db", path, "--backup")
    assert result.returncode == 0, result.stderr
    assert "Columns added: 11 (10 skipped)" in result.stdout
    assert "Indexes created: 21 (11 skipped)" in result.stdout
    assert "[ok] row_counts" in result.stdout
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations ORDER BY id")] == [
        "001_add_vault_id",
        "002_add_vercel_sandbox_tables",
    ]
    assert sql(str(run.admin), "SELECT kind, state FROM migrations_ui_job ORDER BY id") == [
        ("migration", "succeeded")
    ]
    audit = sql(str(run.admin), "SELECT action, outcome FROM migrations_ui_auditrecord")
    assert ("migration", "success") in audit
    assert len(list(run.backups.glob("metamorph-backup-*.db"))) == 1


def test_json_result_carries_preflight_run_and_verification(run, metamorph_db):
    path = metamorph_db("autoupgraded")
    result = run("runmigration", "--db", path, "--backup", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["verification"]["ok"] is True
    first = doc["run"]["migrations"][0]
    assert first["migration_id"] == "001_add_vault_id" and first["counts"]["columns_added"] == 1
    assert {c["name"] for c in doc["preflight"]["findings"]} >= {"backup", "quick_check", "lock"}


def test_unknown_migration_and_rollback_of_pending_are_clear_errors(run, metamorph_db):
    path = metamorph_db("legacy")
    unknown = run("runmigration", "--db", path, "--migration", "009_nope")
    assert unknown.returncode != 0 and "001_add_vault_id" in unknown.stderr
    never = run("runmigration", "--db", path, "--rollback", "--yes")
    assert never.returncode != 0 and "Traceback" not in never.stderr


def test_rollback_of_002_needs_a_backup_taken_after_it_and_a_confirmation(run, metamorph_db):
    path = metamorph_db("migrated")
    rows = sql(path, "SELECT COUNT(*) FROM vercel_connections")[0][0]
    unconfirmed = run("runmigration", "--db", path, "--rollback")
    assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stderr
    no_backup = run("runmigration", "--db", path, "--rollback", "--yes")
    assert no_backup.returncode == 1
    lost = (
        rows
        + sql(path, "SELECT COUNT(*) FROM sandboxes")[0][0]
        + sql(path, "SELECT COUNT(*) FROM sandbox_resource_usage")[0][0]
    )
    assert f"deletes {lost} rows" in no_backup.stderr
    assert "needs a verified backup" in no_backup.stderr
    assert "vercel_connections" in {
        r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type='table'")
    }
    done = run("runmigration", "--db", path, "--rollback", "--yes", "--backup")
    assert done.returncode == 0, done.stderr
    assert "vercel_connections" not in {
        r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type='table'")
    }


def test_rehearsal_reports_timing_and_leaves_the_live_file_alone(run, metamorph_db):
    path = metamorph_db("legacy")
    before = digest(path)
    result = run("runmigration", "--db", path, "--rehearse", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["migrate_seconds"] >= 0
    assert "guide" in doc["downtime"]["sentence"]
    assert digest(path) == before


def test_backupdb_listbackups_and_restorebackup_round_trip(run, metamorph_db):
    path = metamorph_db("migrated")
    made = run("backupdb", "--db", path, "--label", "before-test", "--json")
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["label"] == "before-test"
    listed = run("listbackups", "--json")
    entries = json.loads(listed.stdout)
    assert [e["state"] for e in entries] == ["verified"]
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM messages")
    conn.commit()
    conn.close()
    restored = run("restorebackup", manifest["name"], "--db", path, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert (
        sql(path, "SELECT COUNT(*) FROM messages")[0][0]
        == manifest["row_counts"]["messages"]["total"]
        > 0
    )


def test_restorebackup_refuses_path_tricks_and_unverified_names(run, metamorph_db):
    path = metamorph_db("migrated")
    tricked = run("restorebackup", "../../etc/passwd", "--db", path, "--yes")
    assert tricked.returncode != 0 and "is not a backup name" in tricked.stderr
    missing = run("restorebackup", "metamorph-backup-20200101-000000.db", "--db", path, "--yes")
    assert missing.returncode != 0 and "listbackups" in missing.stderr


def test_backupdb_rejects_keep_zero(run, metamorph_db):
    result = run("backupdb", "--db", metamorph_db("legacy"), "--keep", "0")
    assert result.returncode != 0 and "--keep must be 1 or more" in result.stderr


def test_backupdb_verify_quick_is_recorded_in_the_manifest_and_the_list(run, metamorph_db):
    path = metamorph_db("migrated")
    quick = run("backupdb", "--db", path, "--verify", "quick", "--json")
    assert quick.returncode == 0, quick.stderr
    manifest = json.loads(quick.stdout)
    assert (manifest["verify_mode"], manifest["verify_check"]) == ("quick", "quick_check")
    full = run("backupdb", "--db", path, "--label", "full one")
    assert full.returncode == 0, full.stderr
    assert "verified (integrity_check ok)" in full.stdout
    entries = json.loads(run("listbackups", "--json").stdout)
    by_label = {e["label"]: e for e in entries}
    assert by_label["full one"]["verify_mode"] == "full"
    assert by_label[""]["verify_mode"] == "quick"
    assert {e["state"] for e in entries} == {"verified"}
    text = run("listbackups").stdout
    assert "quick check" in text and "full check" in text
    with open(run.backups / (manifest["name"] + ".json")) as fh:
        on_disk = json.load(fh)
    assert on_disk["verify_mode"] == "quick" and on_disk["sha256"] == digest(
        run.backups / manifest["name"]
    )


def test_backupdb_says_what_the_job_page_warns_of(run, metamorph_db):
    # An existing directory open to other users is left as it is, and said so where the operator
    # who ran the backup reads: its terminal, not only the job page.
    run.backups.mkdir()
    os.chmod(run.backups, 0o755)
    made = run("backupdb", "--db", metamorph_db("migrated"))
    assert made.returncode == 0, made.stderr
    warned = [line for line in made.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and f"consider `chmod 700 {run.backups}`" in warned[0], made.stderr
    assert "verified (integrity_check ok)" in made.stdout


def test_backupdb_refuses_an_unknown_verify_mode(run, metamorph_db):
    result = run("backupdb", "--db", metamorph_db("migrated"), "--verify", "none")
    assert result.returncode != 0 and "invalid choice: 'none'" in result.stderr
    assert not run.backups.exists() or not list(run.backups.iterdir())


def test_a_mutating_command_without_an_operator_refuses_in_one_line_and_changes_nothing(
    run, metamorph_db
):
    path = metamorph_db("legacy")
    before = digest(path)
    result = run("runmigration", "--db", path, "--backup", METAMORPH_OPERATOR="")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: A Migration job must be tied to a person: name yourself with --operator "
        "NAME (or METAMORPH_OPERATOR=NAME), a dashboard user with the role it needs "
        "(createoperator NAME --role ...)."
    ]
    assert digest(path) == before
    assert sql(str(run.admin), "SELECT COUNT(*) FROM migrations_ui_job") == [(0,)]
    backup = run("backupdb", "--db", path, "--operator", "nobody", METAMORPH_OPERATOR="")
    assert backup.returncode == 1
    assert "There is no active dashboard user called 'nobody'" in backup.stderr


def test_a_command_is_recorded_under_the_dashboard_user_it_names(run, metamorph_db):
    path = metamorph_db("legacy")
    result = run("backupdb", "--db", path, "--operator", "cli-admin", METAMORPH_OPERATOR="")
    assert result.returncode == 0, result.stderr
    jobs = sql(
        str(run.admin),
        "SELECT j.actor, j.origin, u.username FROM migrations_ui_job j "
        "JOIN auth_user u ON u.id = j.started_by_id",
    )
    assert jobs == [("cli-admin", "cli", "cli-admin")]


def test_a_failed_verification_fails_its_job_as_well_as_the_command(run, metamorph_db):
    # The command said "[FAILED] schema_migrations" and exited 1 while the job row stayed
    # succeeded, so the Jobs page and the failed-jobs metric never showed the failure.
    result = run("runmigration", "--db", metamorph_db("legacy"), "--verify")
    assert result.returncode == 1
    assert "[FAILED] schema_migrations" in result.stdout
    assert "Verification found problems: schema_migrations" in result.stderr
    assert "succeeded" not in result.stderr
    ((state, error),) = sql(str(run.admin), "SELECT state, error FROM migrations_ui_job")
    assert state == "failed" and "schema_migrations" in error


def test_a_hot_journal_has_a_way_out_that_keeps_the_file_with_its_journal(run, metamorph_db):
    path = metamorph_db("legacy")
    messages = sql(path, "SELECT COUNT(*) FROM messages")
    assert leave_hot_journal(path) == -9
    left = (digest(path), digest(path + "-journal"))

    refused = run("runmigration", "--db", path, "--force")
    assert refused.returncode == 1
    assert "Run `python manage.py rollbackinterrupted` (it asks first)" in refused.stderr
    assert "copies the file with its -journal into the backup directory" in refused.stderr
    unconfirmed = run("rollbackinterrupted", "--db", path)
    assert unconfirmed.returncode == 1 and "add --yes" in unconfirmed.stderr
    assert (digest(path), digest(path + "-journal")) == left

    done = run("rollbackinterrupted", "--db", path, "--yes")
    assert done.returncode == 0, done.stderr
    assert "then SQLite rolled the interrupted write back" in done.stdout
    (folder,) = [p for p in run.backups.iterdir() if p.name.startswith("interrupted-write-")]
    name = os.path.basename(path)
    assert (digest(folder / name), digest(folder / f"{name}-journal")) == left
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [f["sha256"] for f in manifest["files"]] == list(left)
    assert sql(path, "SELECT COUNT(*) FROM messages WHERE content LIKE '%!'") == [(0,)]
    assert sql(path, "SELECT COUNT(*) FROM messages") == messages
    assert run("runmigration", "--db", path, "--list").returncode == 0

    again = run("rollbackinterrupted", "--db", path, "--yes")
    assert again.returncode == 1 and "has no interrupted write to roll back" in again.stderr


def test_a_read_only_backup_filesystem_is_named_as_such(
    run, metamorph_db, tmp_path, read_only_folder
):
    # It was reported as "this user may not create files in it", a permissions problem.
    folder = tmp_path / "backups-ro"
    folder.mkdir()
    mounted = read_only_folder(folder)
    result = run("backupdb", "--db", metamorph_db("migrated"), "--dir", str(mounted))
    assert result.returncode == 1
    assert f"Cannot write backups into {mounted}: it is on a read-only filesystem" in result.stderr
    assert "may not create files" not in result.stderr
    missing = run("backupdb", "--db", metamorph_db("migrated"), "--dir", str(mounted / "new"))
    assert "it is on a read-only filesystem" in missing.stderr


def test_listbackups_refuses_a_missing_dir_or_a_file(run, tmp_path):
    # Both said "No backups yet" and exited 0.
    missing = run("listbackups", "--dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert f"No folder {tmp_path / 'nowhere'} (the --dir path)" in missing.stderr
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    not_dir = run("listbackups", "--dir", str(a_file))
    assert not_dir.returncode == 1 and f"{a_file} is not a folder" in not_dir.stderr


def test_backup_commands_write_sizes_and_rows_in_the_pages_format(run, metamorph_db):
    path = metamorph_db("migrated", sessions=400)
    made = run("backupdb", "--db", path)
    assert made.returncode == 0, made.stderr
    assert " bytes" not in made.stdout
    shown = re.search(
        r": [\d.]+ (kB|MB), sha256 [0-9a-f]{64}, (\d{1,3}(,\d{3})+) rows", made.stdout
    )
    assert shown, made.stdout
    listed = run("listbackups", "--db", path)
    assert " bytes" not in listed.stdout and re.search(r" [\d.]+ (kB|MB) ", listed.stdout)
    assert f"rows {shown.group(2):>9}" in listed.stdout


def test_a_label_is_bounded_the_same_on_the_command_line_and_in_the_form(run, metamorph_db):
    from metamorph.backup.create import MAX_LABEL
    from migrations_ui.forms import BackupForm

    assert BackupForm.base_fields["label"].max_length == MAX_LABEL
    long = run("backupdb", "--db", metamorph_db("migrated"), "--label", "x" * (MAX_LABEL + 1))
    assert long.returncode == 1
    assert f"--label takes at most {MAX_LABEL} characters" in long.stderr
    assert not run.backups.exists() or not list(run.backups.glob("*.db"))
