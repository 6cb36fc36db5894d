"""The isolation audit finds what breaks isolation, and nothing on a clean database."""

import sqlite3

import pytest

from metamorph.remap import MoveVault, build_plan, execute_plan, isolation_audit

from .helpers import SOURCE, file_digest


@pytest.fixture
def db(metamorph_db):
    return metamorph_db("migrated", optional_tables=True)


def kinds(audit):
    return {(f["kind"], f.get("link", f["table"])) for f in audit["findings"]}


def test_a_demo_database_is_clean_and_its_dangling_links_are_information(db):
    audit = isolation_audit(db)
    assert audit["clean"] and audit["findings"] == [] and audit["complete"]
    assert "messages.conversation_id" in audit["checked"]
    assert "semantic_memory.metadata.conversationId" in audit["checked"]
    assert all(n > 0 for n in audit["dangling"].values())


def test_the_audit_only_reads(db):
    before = file_digest(db)
    isolation_audit(db)
    assert file_digest(db) == before


def test_a_message_in_another_vault_than_its_conversation_is_found_with_a_sample(db):
    conn = sqlite3.connect(db)
    mid, conv, vault = conn.execute(
        "SELECT id, conversation_id, vault_id FROM messages LIMIT 1"
    ).fetchone()
    conn.execute("UPDATE messages SET vault_id = 'user-mallory' WHERE id = ?", (mid,))
    conn.commit()
    audit = isolation_audit(db)
    assert not audit["clean"]
    (finding,) = audit["findings"]
    assert (finding["kind"], finding["link"], finding["rows"]) == (
        "link_mismatch",
        "messages.conversation_id",
        1,
    )
    assert finding["sample"] == [
        {"id": mid, "vault": "user-mallory", "parent_id": conv, "parent_vault": vault}
    ]
    assert finding["message"].startswith(
        "1 messages rows are in another vault than the "
        "conversation or session their link "
        "messages.conversation_id names"
    )


@pytest.mark.parametrize(
    "table, link, parent_column",
    [
        ("sessions", "sessions.conversation_id", None),
        ("emotion_context", "emotion_context.session_id", None),
        ("steering_messages", "steering_messages.session_id", None),
        ("evolution_snapshots", "evolution_snapshots.conversation_id", None),
        ("emotional_arcs", "emotional_arcs.conversation_id", None),
        ("subagent_results", "subagent_results.conversation_id", None),
        ("session_states", "session_states.id", None),
    ],
)
def test_each_link_is_audited(db, table, link, parent_column):
    conn = sqlite3.connect(db)
    col = (
        "id"
        if table == "session_states"
        else (
            "session_id" if table in ("emotion_context", "steering_messages") else "conversation_id"
        )
    )
    parent = "sessions" if col in ("id", "session_id") else "conversations"
    conn.execute(
        f"UPDATE {table} SET vault_id = 'user-mallory' WHERE rowid = (SELECT min(t.rowid)"
        f" FROM {table} t JOIN {parent} p ON p.id = t.{col})"
    )
    conn.commit()
    assert ("link_mismatch", link) in kinds(isolation_audit(db))


def test_a_memory_in_another_vault_than_its_metadata_conversation_is_found(db):
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE semantic_memory SET vault_id = 'user-mallory' WHERE rowid = (SELECT "
        "min(rowid) FROM semantic_memory WHERE json_extract(metadata, "
        "'$.conversationId') IS NOT NULL)"
    )
    conn.commit()
    assert ("link_mismatch", "semantic_memory.metadata.conversationId") in kinds(
        isolation_audit(db)
    )


def test_empty_vaults_and_ids_outside_the_rules_are_found_and_shown_escaped(db):
    conn = sqlite3.connect(db)
    conn.execute("UPDATE operator_performance SET vault_id = '' WHERE rowid IN (1, 2)")
    conn.execute("UPDATE identity SET vault_id = 'bad:id' || char(10) WHERE rowid = 1")
    conn.commit()
    audit = isolation_audit(db)
    blank = [f for f in audit["findings"] if f["kind"] == "blank_vault"]
    assert [(f["table"], f["rows"]) for f in blank] == [("operator_performance", 2)]
    (odd,) = [f for f in audit["findings"] if f["kind"] == "invalid_vault_id"]
    assert odd["vault"] == "'bad:id\\n'" and odd["rows"] == 1
    assert "which breaks the id rules: it contains ':'" in odd["message"]


def test_after_a_whole_vault_move_the_audit_is_clean(db, tmp_path):
    plan = build_plan(db, MoveVault("user-alice"))
    execute_plan(db, plan, str(tmp_path / "j.sqlite3"), batch_rows=100)
    audit = isolation_audit(db, str(tmp_path / "j.sqlite3"))
    assert audit["clean"] and audit["incomplete_plans"] == []
    conn = sqlite3.connect(db)
    assert (
        conn.execute("SELECT COUNT(*) FROM messages WHERE vault_id = ?", (SOURCE,)).fetchone()[0]
        == 0
    )


def test_a_time_budget_marks_checks_it_could_not_finish(db):
    audit = isolation_audit(db, seconds=1e-9)
    assert not audit["complete"] and not audit["clean"]
    assert "messages.conversation_id" in audit["unfinished"]
