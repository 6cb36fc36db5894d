"""Index health keyed on the expected names; definition differences are information."""

import sqlite3

from metamorph import schema
from metamorph.report import build_report


def health(path):
    return build_report(path)["indexes"]


def by_name(rows):
    return {r["name"]: r for r in rows}


def test_migrated_database_has_every_expected_index_and_no_scan(metamorph_db):
    ix = health(metamorph_db("migrated"))
    statuses = {
        r["status"]
        for r in ix["expected"]
        if r["table"] in schema.LEGACY_TABLES + schema.SANDBOX_TABLES
    }
    assert statuses == {"present"}
    assert ix["plans"] and not any(p["full_scan"] for p in ix["plans"])
    used = {r["name"] for r in ix["expected"] if r["used_by_planner"]}
    assert "idx_messages_vault_conversation" in used


def test_legacy_database_shows_001_indexes_as_pending_not_missing(metamorph_db):
    ix = by_name(health(metamorph_db("legacy"))["expected"])
    assert ix["idx_sessions_vault_id"]["status"] == "pending"
    assert ix["idx_sessions_vault_id"]["fix"].endswith("--migration=001_add_vault_id")
    assert ix["idx_steering_messages_vault_id"]["status"] == "not-applicable"
    assert ix["idx_messages_conversation"]["status"] == "present"


def test_autoupgraded_database_misses_composite_indexes_and_names_the_store_ones(metamorph_db):
    ix = health(metamorph_db("autoupgraded"))
    expected = by_name(ix["expected"])
    assert expected["idx_messages_vault_conversation"]["status"] == "missing"
    assert "runmigration" in expected["idx_messages_vault_conversation"]["fix"]
    extra = by_name(ix["extra"])
    assert "multitenancy store" in extra["idx_messages_vault"]["origin"]


def test_fresh_install_desc_difference_is_information_not_missing(metamorph_db):
    ix = by_name(health(metamorph_db("fresh"))["expected"])
    row = ix["idx_session_states_vault_activity"]
    assert row["status"] == "differs"
    assert "last_activity DESC" in row["actual_columns"]
    assert "information" in row["note"]


def test_redundant_indexes_that_metamorph_ships_are_flagged(metamorph_db):
    pairs = {
        (r["name"], r["covered_by"], r["reason"])
        for r in health(metamorph_db("migrated"))["redundant"]
    }
    assert ("idx_sandboxes_vault_id", "idx_sandboxes_status", "left prefix") in pairs
    assert (
        "idx_sandbox_resource_usage_period",
        "idx_sandbox_resource_usage_vault_period",
        "same columns",
    ) in pairs


def test_a_dropped_vault_index_turns_into_a_full_scan_with_the_fix(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX idx_conversations_vault_id")
    conn.execute("DROP INDEX idx_conversations_vault_updated")
    conn.commit()
    conn.close()
    report = build_report(path)
    plan = [p for p in report["indexes"]["plans"] if p["table"] == "conversations"][0]
    assert plan["full_scan"] is True
    assert plan["fix"] == "python manage.py runmigration --migration=001_add_vault_id"
    finding = [f for f in report["checks"] if f["id"] == "slow_queries"][0]
    assert finding["status"] == "error" and "conversations" in finding["detail"]


def test_an_index_added_by_hand_is_listed_as_extra(metamorph_db):
    path = metamorph_db("migrated")
    conn = sqlite3.connect(path)
    conn.execute("CREATE INDEX my_messages_role ON messages(role)")
    conn.commit()
    conn.close()
    extra = by_name(health(path)["extra"])
    assert extra["my_messages_role"]["origin"].startswith("not created by Metamorph")


def test_a_table_without_expected_columns_is_reported_not_crashed(tmp_path):
    path = str(tmp_path / "odd.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, vault_id TEXT)")
    conn.commit()
    conn.close()
    report = build_report(path)
    plan = [p for p in report["indexes"]["plans"] if p["table"] == "sessions"][0]
    assert plan["plan"].startswith("cannot plan: no such column")
    finding = [f for f in report["checks"] if f["id"] == "unexpected_columns"][0]
    assert finding["status"] == "error" and "sessions lacks" in finding["detail"]
