"""vaultreport and makedemodb as real subprocesses: output, exit codes, clear errors."""

import json
import re

from conftest import sql
from metamorph_admin.tests.commands import manage


def test_vaultreport_json_is_stable_and_matches_the_file(metamorph_db):
    path = metamorph_db("migrated", vaults=6)
    result = manage("vaultreport", "--json", "--db", path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format_version"] == 1
    assert set(doc) >= {"path", "table_states", "health", "indexes", "counts", "checks"}
    assert doc["counts"]["tables"]["messages"]["by_vault"] == dict(
        sql(path, "SELECT vault_id, COUNT(*) FROM messages GROUP BY 1")
    )
    assert doc["table_states"]["steering_messages"] == "absent"


def test_vaultreport_text_lists_vaults_tables_and_checks(metamorph_db):
    result = manage("vaultreport", "--db", metamorph_db("migrated"), "--integrity")
    assert result.returncode == 0, result.stderr
    assert "Vaults: 6 distinct" in result.stdout
    assert "[ok] Integrity: quick_check ok" in result.stdout
    assert "redundant idx_sandboxes_vault_id" in result.stdout


def test_vaultreport_exits_1_when_a_check_finds_an_error(metamorph_db):
    result = manage("vaultreport", "--db", metamorph_db("autoupgraded"))
    assert result.returncode == 1
    assert "[error] Partial migration: vault_id on 10 tables, missing on: session_states" in (
        result.stdout
    )


def test_a_missing_db_path_is_a_clear_error_about_that_option(tmp_path):
    # The advice was to set METAMORPH_DATABASE_PATH, which --db overrides anyway.
    missing = str(tmp_path / "nope.db")
    for command in ("vaultreport", "backupdb", "runmigration", "remapvaults"):
        extra = ("--audit",) if command == "remapvaults" else ()
        result = manage(command, "--db", missing, *extra, tmp_path=tmp_path)
        assert result.returncode == 1, command
        assert f"No file at {missing}, the --db path. Check the path" in result.stderr, command
        assert "METAMORPH_DATABASE_PATH" not in result.stderr, command
        assert "Traceback" not in result.stderr, command


def test_vaultreport_rejects_a_non_positive_timeout(metamorph_db):
    result = manage("vaultreport", "--db", metamorph_db("legacy"), "--timeout", "0")
    assert result.returncode != 0 and "--timeout must be a positive number" in result.stderr


def test_makedemodb_builds_the_requested_state(tmp_path):
    path = tmp_path / "demo.db"
    result = manage(
        "makedemodb",
        str(path),
        "--sessions",
        "30",
        "--state",
        "autoupgraded",
        "--without-session-states",
    )
    assert result.returncode == 0, result.stderr
    assert "Created" in result.stdout
    names = {r[0] for r in sql(str(path), "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "session_states" not in names and "sessions" in names


def test_makedemodb_refuses_an_existing_path_and_bad_arguments(tmp_path):
    existing = tmp_path / "x.db"
    existing.write_text("keep me")
    result = manage("makedemodb", str(existing))
    assert result.returncode != 0 and "never overwrites" in result.stderr
    assert existing.read_text() == "keep me"
    bad = manage("makedemodb", str(tmp_path / "y.db"), "--state", "sideways")
    assert bad.returncode != 0 and "invalid choice: 'sideways'" in bad.stderr
    zero = manage("makedemodb", str(tmp_path / "z.db"), "--sessions", "0")
    assert zero.returncode != 0 and "at least 1" in zero.stderr


def test_a_malformed_environment_setting_names_the_variable(tmp_path):
    result = manage("check", env={"METAMORPH_PAGE_QUERY_SECONDS": "soon"})
    assert result.returncode == 2
    assert "Environment variable METAMORPH_PAGE_QUERY_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_secret_key_in_production_is_explained(tmp_path):
    result = manage("check", env={"SECRET_KEY": "", "DEBUG": "false"})
    assert result.returncode == 2 and "SECRET_KEY is not set" in result.stderr


def test_deploy_check_is_clean_apart_from_https_settings():
    result = manage(
        "check", "--deploy", env={"SECRET_KEY": __import__("secrets").token_urlsafe(50)}
    )
    found = set(__import__("re").findall(r"security\.W\d+", result.stderr + result.stdout))
    assert found <= {"security.W004", "security.W008", "security.W012", "security.W016"}


def test_vaultreport_audit_runs_the_isolation_audit_and_names_a_split_conversation(metamorph_db):
    import sqlite3

    path = metamorph_db("migrated")
    clean = json.loads(manage("vaultreport", "--json", "--audit", "--db", path).stdout)
    assert clean["isolation"]["clean"] is True and clean["isolation_source"] == {"source": "audit"}
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET vault_id = 'elsewhere' WHERE rowid = 1")
    conn.commit()
    conn.close()
    result = manage("vaultreport", "--audit", "--db", path)
    assert result.returncode == 1
    assert "[error] Vault isolation: 1 messages rows are in another vault" in result.stdout
    assert "Isolation audit: run now (--audit)." in result.stdout


def test_vaultreport_without_audit_reads_no_row_for_it_and_says_how_to_run_it(
    metamorph_db, tmp_path
):
    path = metamorph_db("migrated")
    result = manage("vaultreport", "--db", path, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Isolation audit: not run (--audit runs it" in result.stdout
    data = json.loads(manage("vaultreport", "--json", "--db", path, tmp_path=tmp_path).stdout)
    assert data["isolation"] is None and data["isolation_source"] == {}


def test_vaultreport_shows_the_newest_background_reads_audit_with_its_age(db, metamorph_db):
    import io
    import os
    import re
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from metamorph import report
    from vaults.models import Snapshot

    path = metamorph_db("migrated")
    payload = report.full_snapshot(path)
    finished = timezone.now() - timedelta(minutes=7)
    snap = Snapshot.objects.create(
        db_path=path, state=Snapshot.State.DONE, payload=payload, finished_at=finished
    )
    os.utime(path, (finished.timestamp() - 60, finished.timestamp() - 60))
    out = io.StringIO()
    call_command("vaultreport", "--db", path, stdout=out)
    text = out.getvalue()
    assert f"Isolation audit: from background read #{snap.pk} at " in text
    age = int(re.search(r"\((\d+) s ago\)", text).group(1))
    assert age >= 420  # seven minutes, and however long this test took since
    assert "written since" not in text
    os.utime(path)  # the server wrote the file after that read
    out = io.StringIO()
    call_command("vaultreport", "--json", "--db", path, stdout=out)
    data = json.loads(out.getvalue())
    assert data["isolation"]["clean"] is True
    assert data["isolation_source"]["file_written_since"] is True


def test_makedemodb_builds_the_observed_shape_by_default_and_linked_on_request(tmp_path):
    observed, linked = tmp_path / "observed.db", tmp_path / "linked.db"
    first = manage("makedemodb", str(observed), "--sessions", "20")
    assert first.returncode == 0, first.stderr
    assert "(legacy, observed shape)" in first.stdout
    assert sql(str(observed), "SELECT COUNT(*) FROM conversations")[0][0] == 0
    assert (
        sql(str(observed), "SELECT COUNT(*) FROM sessions WHERE conversation_id IS NOT NULL")[0][0]
        == 0
    )
    second = manage("makedemodb", str(linked), "--sessions", "20", "--shape", "linked")
    assert second.returncode == 0, second.stderr
    assert sql(str(linked), "SELECT COUNT(*) FROM conversations")[0][0] == 20
    bad = manage("makedemodb", str(tmp_path / "x.db"), "--shape", "tidy")
    assert bad.returncode != 0 and "invalid choice: 'tidy'" in bad.stderr


def test_ensuredemodb_builds_the_observed_shape_and_refuses_an_unknown_one(tmp_path):
    path = tmp_path / "data" / "metamorph.db"
    bad = manage(
        "ensuredemodb",
        env={"METAMORPH_DATABASE_PATH": str(path), "DEMO_SHAPE": "tidy", "DEMO_SESSIONS": "10"},
    )
    assert bad.returncode != 0 and "DEMO_SHAPE='tidy' is not one of observed, linked" in (
        bad.stderr
    )
    assert not path.exists()
    made = manage("ensuredemodb", env={"METAMORPH_DATABASE_PATH": str(path), "DEMO_SESSIONS": "10"})
    assert made.returncode == 0, made.stderr
    assert "observed shape" in made.stdout
    assert sql(str(path), "SELECT COUNT(*) FROM messages")[0][0] == 0


def test_makedemodb_creates_no_folders(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.db"
    result = manage("makedemodb", str(target))
    assert result.returncode == 1
    assert f"the folder {target.parent} does not exist" in result.stderr
    assert not (tmp_path / "no").exists()


def test_vaultreport_refuses_a_top_below_one_and_writes_sizes_and_counts_readably(metamorph_db):
    path = metamorph_db("migrated", sessions=400)
    negative = manage("vaultreport", "--db", path, "--top", "-1")
    assert negative.returncode == 1 and "--top must be 1 or more" in negative.stderr
    report = manage("vaultreport", "--db", path)
    total = sum(
        sql(path, f'SELECT COUNT(*) FROM "{t}"')[0][0]
        for (t,) in sql(
            path, "SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%vault_id%'"
        )
    )
    assert " bytes" not in report.stdout and re.search(
        r"\n  [\d.]+ (kB|MB), journal", report.stdout
    )
    assert f"{total:,} rows" in report.stdout
