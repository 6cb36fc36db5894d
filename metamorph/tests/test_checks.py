"""The troubleshooting checks say what is wrong, why, and the fix."""

import sqlite3

from metamorph.report import build_report


def finding(path, check_id):
    return [f for f in build_report(path)["checks"] if f["id"] == check_id][0]


def test_partial_migration_names_the_tables_still_without_vault_id(metamorph_db):
    f = finding(metamorph_db("autoupgraded"), "partial_migration")
    assert f["status"] == "error"
    assert "missing on: session_states" in f["detail"]
    assert "runmigration" in f["fix"]


def test_fresh_install_without_tracking_row_is_a_warning(metamorph_db):
    f = finding(metamorph_db("fresh"), "partial_migration")
    assert f["status"] == "warning" and "001_add_vault_id" in f["detail"]


def test_migrated_database_passes_every_check(metamorph_db):
    report = build_report(metamorph_db("migrated"))
    assert {f["id"]: f["status"] for f in report["checks"]} == {
        "partial_migration": "ok",
        "unexpected_columns": "ok",
        "database_locked": "ok",
        "data_not_showing": "ok",
        "slow_queries": "ok",
        "vault_ids": "ok",
        "integrity": "info",
        "isolation": "info",
    }


def test_data_only_in_default_vault_explains_why_users_see_nothing(metamorph_db):
    f = finding(metamorph_db("autoupgraded"), "data_not_showing")
    assert f["status"] == "warning"
    assert "default-vault" in f["detail"] and "X-Vault-Id" in f["cause"]


def test_vault_ids_breaking_the_id_rules_are_listed_escaped(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sessions SET vault_id = 'alice:bob' WHERE rowid = 1")
    conn.execute("UPDATE messages SET vault_id = '' WHERE rowid = 2")
    conn.commit()
    conn.close()
    f = finding(path, "vault_ids")
    assert f["status"] == "warning"
    assert "'alice:bob'" in f["detail"] and "1 rows with an empty or NULL vault" in f["detail"]


def test_a_vault_id_with_a_trailing_newline_breaks_the_rules(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sessions SET vault_id = 'abc\n' WHERE rowid = 1")
    conn.commit()
    conn.close()
    f = finding(path, "vault_ids")
    assert f["status"] == "warning" and "'abc\\n'" in f["detail"]
