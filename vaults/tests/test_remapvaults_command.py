"""remapvaults as an operator runs it: preview, run, status, undo, audit; clear errors."""

import json

import pytest

from conftest import sql
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db


@pytest.fixture
def run(tmp_path):
    admin = migrated_admin_db(tmp_path)

    def call(*args):
        return manage(
            "remapvaults",
            *args,
            env={"DATABASE_URL": f"sqlite:///{admin}", "METAMORPH_BACKUP_DIR": str(tmp_path / "b")},
        )

    return call


def in_vault(path, vault):
    return sql(path, "SELECT COUNT(*) FROM messages WHERE vault_id = ?", (vault,))[0][0]


def test_preview_run_status_undo_and_audit(run, metamorph_db):
    path = metamorph_db("migrated")
    before = in_vault(path, "default-vault")
    preview = run("--db", path, "--move", "dora", "--json")
    assert preview.returncode == 0, preview.stderr
    plan_id = json.loads(preview.stdout)["plan_id"]
    assert in_vault(path, "default-vault") == before
    refused = run("--db", path, "--run", plan_id)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    done = run("--db", path, "--run", plan_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert "isolation audit clean" in done.stdout
    assert in_vault(path, "dora") == before and in_vault(path, "default-vault") == 0
    status = json.loads(run("--db", path, "--status", plan_id).stdout)
    assert status["state"] == "completed" and status["moved_rows"] > before
    undone = run("--db", path, "--undo", plan_id, "--yes")
    assert undone.returncode == 0, undone.stderr
    assert in_vault(path, "default-vault") == before
    audit = run("--db", path, "--audit")
    assert audit.returncode == 0 and "Isolation audit: clean" in audit.stdout


def test_bad_arguments_are_clear_errors(run, metamorph_db, tmp_path):
    path = metamorph_db("migrated")
    owner = run("--db", path, "--owner", "sessions")
    assert owner.returncode != 0 and "TABLE.COLUMN" in owner.stderr
    missing = run("--db", path, "--mapping", str(tmp_path / "none.csv"))
    assert missing.returncode != 0 and "Cannot read" in missing.stderr
    bad_id = run("--db", path, "--move", "a b")
    assert bad_id.returncode != 0 and "Nothing was changed" in bad_id.stderr
    unknown = run("--db", path, "--run", "rp-nope", "--yes")
    assert unknown.returncode != 0 and "no stored remap plan" in unknown.stderr
    for result in (owner, missing, bad_id, unknown):
        assert "Traceback" not in result.stderr


def test_a_legacy_database_is_refused_before_anything_is_written(run, metamorph_db):
    path = metamorph_db("legacy")
    result = run("--db", path, "--move", "dora")
    assert result.returncode != 0 and "001" in result.stderr


def test_a_real_file_split_by_session_ids_names_where_ids_were_found_and_what_cannot_be_attributed(
    run, metamorph_db, tmp_path
):
    path = metamorph_db("migrated", sessions=60, vaults=1, shape="observed")
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions ORDER BY id")]
    csv = tmp_path / "map.csv"
    csv.write_text(
        "session_id,vault_id\n" + "".join(f"{s},user-{n % 2}\n" for n, s in enumerate(sessions))
    )
    preview = run(
        "--db",
        path,
        "--mapping",
        str(csv),
        "--unattributed",
        "send",
        "--unattributed-vault",
        "team",
    )
    assert preview.returncode == 0, preview.stderr
    assert f"The mapping's {len(sessions)} ids were found in:" in preview.stdout
    assert "sessions.id" in preview.stdout
    ops = sql(path, "SELECT COUNT(*) FROM operator_performance")[0][0]
    (line,) = [x for x in preview.stdout.splitlines() if x.startswith("  Rows that cannot")]
    assert "(send -> team)" in line and f"operator_performance {ops}" in line
    plan_id = preview.stdout.split()[1].rstrip(":")
    done = run("--db", path, "--run", plan_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert "isolation audit clean" in done.stdout
    assert sql(path, "SELECT DISTINCT vault_id FROM operator_performance") == [("team",)]
    assert (
        sql(
            path,
            "SELECT COUNT(*) FROM evolution_snapshots WHERE vault_id = "
            "'default-vault' AND conversation_id IN (SELECT id FROM sessions)",
        )[0][0]
        == 0
    )


def test_an_unattributed_vault_without_send_is_a_clear_error(run, metamorph_db, tmp_path):
    path = metamorph_db("migrated", vaults=1, shape="observed")
    csv = tmp_path / "map.csv"
    sid = sql(path, "SELECT id FROM sessions LIMIT 1")[0][0]
    csv.write_text(f"session_id,vault_id\n{sid},user-a\n")
    result = run("--db", path, "--mapping", str(csv), "--unattributed-vault", "team")
    assert result.returncode != 0
    assert "--unattributed-vault goes with --unattributed send." in result.stderr
    assert "Traceback" not in result.stderr


def test_run_headers_stay_apart_and_status_of_an_unknown_plan_is_an_error(run, metamorph_db):
    path = metamorph_db("migrated")
    plan_id = json.loads(run("--db", path, "--move", "dora", "--json").stdout)["plan_id"]
    done = run("--db", path, "--run", plan_id, "--yes")
    assert done.returncode == 0, done.stderr
    head = next(line for line in done.stdout.splitlines() if line.startswith("table "))
    assert "moved now  added since preview   held back" in head  # was "moved nowadded since…"
    assert "  arrived after last batch" in head
    unknown = run("--db", path, "--status", "rp-nope")
    assert unknown.returncode == 1  # was 0, while --run refused the same id
    assert "No plan rp-nope: it was not previewed here" in unknown.stderr


def test_owners_says_in_words_what_a_split_by_owner_can_use(run, metamorph_db):
    none = run("--db", metamorph_db("migrated"), "--owners")
    assert none.returncode == 0, none.stderr
    assert none.stdout.strip() != "[]"
    assert "No owner column or metadata key carries values in default-vault's rows" in (none.stdout)
    assert json.loads(run("--db", metamorph_db("migrated"), "--owners", "--json").stdout) == []
