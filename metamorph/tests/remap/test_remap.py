"""Previews equal what execution moves; linked rows follow their root; conflicts stay."""

import json
import sqlite3

import pytest

from metamorph.errors import PlanStateRefused
from metamorph.remap import (
    MoveVault,
    RemapPlan,
    SplitByMapping,
    SplitByOwner,
    build_plan,
    discover_owner_sources,
    execute_plan,
    isolation_audit,
    plan_status,
    undo_plan,
)

from .helpers import (
    SOURCE,
    integrity,
    mapping_csv,
    moved_rows,
    roots,
    snapshot,
    spread,
    vault_tables,
)


@pytest.fixture
def db(metamorph_db):
    return metamorph_db("migrated", optional_tables=True)


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "journal.sqlite3")


def moved_per_table(before, after):
    out = {}
    for (table, _), _ in moved_rows(before, after).items():
        out[table] = out.get(table, 0) + 1
    return out


def test_whole_vault_move_moves_every_source_row_of_every_table_as_previewed(db, journal):
    before = snapshot(db)
    plan = build_plan(db, MoveVault("user-alice"))
    result = execute_plan(db, plan, journal, batch_rows=64)
    after = snapshot(db)
    expected = {k for k, (_, v) in before.items() if v == SOURCE}
    assert set(moved_rows(before, after)) == expected
    assert all(after[k][1] == "user-alice" for k in expected)
    assert result["moved_total"] == plan.moves_total == len(expected)
    assert result["moved"] == {t: n for t, n in moved_per_table(before, after).items()}
    assert plan.preview["moves"]["user-alice"] == result["moved"]
    assert result["batches"] > 5 and result["left_in_source"] == {}
    assert plan.preview["new_vaults"] == ["user-alice"]
    assert isolation_audit(db)["clean"]


def test_split_by_mapping_moves_linked_rows_with_their_conversation(db, journal):
    before = snapshot(db)
    pairs = spread(roots(db))
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(pairs)))
    result = execute_plan(db, plan, journal, batch_rows=50)
    target = dict(pairs)
    conn = sqlite3.connect(db)
    for table in ("messages", "evolution_snapshots", "emotional_arcs", "subagent_results"):
        wrong = conn.execute(
            f"SELECT COUNT(*) FROM {table} t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE t.vault_id != c.vault_id"
        ).fetchone()[0]
        assert wrong == 0, table
    for conv, vault in pairs:
        assert (
            conn.execute("SELECT vault_id FROM conversations WHERE id = ?", (conv,)).fetchone()[0]
            == target[conv]
        )
        assert {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT vault_id FROM messages WHERE conversation_id = ?", (conv,)
            )
        } <= {vault}
    # sessions follow their conversation, emotion context and steering follow the session
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM emotion_context e JOIN sessions s ON s.id = "
            "e.session_id WHERE e.vault_id != s.vault_id"
        ).fetchone()[0]
        == 0
    )
    assert result["moved"] == moved_per_table(before, snapshot(db))
    assert sum(result["moved"].values()) == plan.moves_total
    assert {t["vault"] for t in plan.preview["targets"]} == {"user-ann", "user-ben", "user-cy"}
    assert isolation_audit(db)["clean"]


def test_rows_no_root_reaches_stay_in_the_source_and_are_reported(db, journal):
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    stays = plan.preview["stays"]
    assert stays["operator_performance"] == {
        "unattributable": plan.preview["tables"]["operator_performance"]["source_rows"]
    }
    assert "no_link" in stays["semantic_memory"]  # memories without conversationId
    named = plan.preview["unattributable"]
    assert (
        named["rows"]["operator_performance"] == stays["operator_performance"]["unattributable"]
        and named["policy"] == "leave"
    )
    assert named["rows"]["semantic_memory"] == stays["semantic_memory"]["no_link"]
    assert plan.preview["stays_total"] > 0
    result = execute_plan(db, plan, journal)
    assert (
        result["left_in_source"]["operator_performance"]
        == stays["operator_performance"]["unattributable"]
    )
    assert sum(result["left_in_source"].values()) == plan.preview["stays_total"]


def test_a_session_mapped_by_session_id_pulls_its_conversation_and_its_messages(db, journal):
    conn = sqlite3.connect(db)
    session, conv = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE vault_id = ? "
        "AND conversation_id IS NOT NULL LIMIT 1",
        (SOURCE,),
    ).fetchone()
    plan = build_plan(
        db, SplitByMapping.from_csv(mapping_csv([(session, "user-sam")], "session_id"))
    )
    execute_plan(db, plan, journal)
    assert (
        conn.execute("SELECT vault_id FROM conversations WHERE id = ?", (conv,)).fetchone()[0]
        == "user-sam"
    )
    assert {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT vault_id FROM messages WHERE conversation_id = ?", (conv,)
        )
    } == {"user-sam"}
    assert (
        conn.execute("SELECT vault_id FROM session_states WHERE id = ?", (session,)).fetchone()[0]
        == "user-sam"
    )


def test_conflicting_roots_are_listed_and_none_of_their_rows_move(db, journal):
    conn = sqlite3.connect(db)
    conv = conn.execute(
        "SELECT json_extract(metadata, '$.conversationId') AS c, COUNT(*) "
        "FROM semantic_memory WHERE vault_id = ? AND c IS NOT NULL GROUP BY c "
        "HAVING COUNT(*) > 1 LIMIT 1",
        (SOURCE,),
    ).fetchone()[0]
    # Two memories of one conversation name different owners: the conversation (and its
    # messages, sessions…) cannot follow both.
    conn.execute(
        "UPDATE semantic_memory SET metadata = json_set(metadata, '$.userId', "
        "CASE WHEN rowid % 2 THEN 'ann' ELSE 'ben' END) WHERE json_extract(metadata, "
        "'$.conversationId') = ?",
        (conv,),
    )
    conn.commit()
    plan = build_plan(db, SplitByOwner("semantic_memory", "metadata", "userId"))
    conflicts = plan.preview["conflicts"]
    assert conflicts["components"] == 1 and conflicts["rows"]["messages"] > 0
    assert conflicts["rows"]["conversations"] == 1
    (sample,) = conflicts["sample"]
    assert sample["component"] == f"conversation '{conv}'"
    assert {v["vault"] for v in sample["votes"]} == {"user-ann", "user-ben"}
    assert plan.moves_total == 0
    before = snapshot(db)
    execute_plan(db, plan, journal)
    assert snapshot(db) == before


def test_a_session_pulls_its_conversation_and_two_owners_of_one_conversation_conflict(db, journal):
    conn = sqlite3.connect(db)
    (s1, conv), (s2, _) = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE vault_id = ? AND conversation_id IS NOT "
        "NULL ORDER BY rowid LIMIT 2",
        (SOURCE,),
    ).fetchall()
    conn.execute("ALTER TABLE sessions ADD COLUMN created_by TEXT")
    conn.execute("UPDATE sessions SET created_by = 'zed' WHERE id = ?", (s1,))
    conn.commit()
    plan = build_plan(db, SplitByOwner("sessions", "created_by"))
    assert plan.preview["conflicts"]["components"] == 0
    assert plan.preview["moves"]["user-zed"]["conversations"] == 1  # the session pulls it
    # A second session of the same conversation, owned by someone else: a conflict.
    conn.execute(
        "UPDATE sessions SET created_by = 'amy', conversation_id = ? WHERE id = ?", (conv, s2)
    )
    conn.commit()
    plan = build_plan(db, SplitByOwner("sessions", "created_by"))
    conflicts = plan.preview["conflicts"]
    assert conflicts["components"] == 1 and conflicts["rows"]["sessions"] == 2
    assert {v["vault"] for v in conflicts["sample"][0]["votes"]} == {"user-zed", "user-amy"}
    assert "user-zed" not in plan.preview["moves"]


def test_split_by_owner_column_sends_each_owner_to_prefix_plus_value(db, journal):
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE sessions ADD COLUMN created_by TEXT")
    conn.execute(
        "UPDATE sessions SET created_by = CASE rowid % 3 WHEN 0 THEN 'alice' "
        "WHEN 1 THEN 'bob' END WHERE conversation_id IS NOT NULL AND vault_id = ?",
        (SOURCE,),
    )
    conn.commit()
    offered = {s["label"]: s for s in discover_owner_sources(db)}
    assert "sessions.created_by" in offered
    assert set(offered["sessions.created_by"]["examples"]) == {"'alice'", "'bob'"}
    plan = build_plan(db, SplitByOwner("sessions", "created_by"))
    execute_plan(db, plan, journal)
    for owner, vault in conn.execute(
        "SELECT DISTINCT s.created_by, c.vault_id FROM sessions s "
        "JOIN conversations c ON c.id = s.conversation_id WHERE "
        "s.created_by IS NOT NULL"
    ):
        assert vault == f"user-{owner}"
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM sessions WHERE created_by IS NULL AND vault_id "
            "IN ('user-alice', 'user-bob')"
        ).fetchone()[0]
        == 0
    )
    assert isolation_audit(db)["clean"]


def test_owner_discovery_offers_only_columns_and_json_keys_that_exist(db):
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE semantic_memory SET metadata = json_set(metadata, '$.userId', "
        "'u-' || (rowid % 3)) WHERE vault_id = ?",
        (SOURCE,),
    )
    conn.commit()
    offered = discover_owner_sources(db)
    labels = {s["label"] for s in offered}
    # metadata.source ('agent') is Metamorph's own description, never an owner
    assert labels == {"semantic_memory.metadata → userId"}
    assert all(s["table"] not in ("vercel_connections", "sandboxes") for s in offered)


def test_owner_values_that_make_invalid_vault_ids_stay_and_are_reported(db):
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE semantic_memory SET metadata = json_set(metadata, '$.userId', "
        "CASE WHEN rowid % 2 THEN 'x:y' ELSE 'x y' END) "
        "WHERE json_extract(metadata, '$.conversationId') IS NULL"
    )
    conn.commit()
    offered = {s["label"]: s for s in discover_owner_sources(db)}
    assert sorted(offered["semantic_memory.metadata → userId"]["invalid_examples"]) == [
        "'x y'",
        "'x:y'",
    ]
    plan = build_plan(db, SplitByOwner("semantic_memory", "metadata", "userId"))
    assert plan.moves_total == 0
    assert plan.preview["stays"]["semantic_memory"]["invalid_target"] > 0


def test_a_plan_survives_json_and_executes_identically(db, journal):
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    stored = RemapPlan.from_json(json.dumps(json.loads(plan.to_json())))
    assert stored.fingerprint == plan.fingerprint and stored.preview == plan.preview
    assert execute_plan(db, stored, journal)["moved_total"] == plan.moves_total


def test_a_completed_plan_runs_once_and_an_undone_plan_is_not_run_again(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    execute_plan(db, plan, journal)
    again = execute_plan(db, plan, journal)
    assert again["already_completed"] and again["moved_total"] == 0
    undo_plan(db, plan.plan_id, journal)
    with pytest.raises(PlanStateRefused, match="was undone"):
        execute_plan(db, plan, journal)


def test_undo_restores_every_rows_previous_vault(db, journal):
    before = snapshot(db)
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    execute_plan(db, plan, journal, batch_rows=40)
    assert snapshot(db) != before
    result = undo_plan(db, plan.plan_id, journal, batch_rows=33)
    assert snapshot(db) == before
    assert result["restored_total"] == plan.moves_total and result["batches"] > 3
    status = plan_status(db, plan.plan_id, journal)
    assert status["state"] == "undone" and status["undone_rows"] == plan.moves_total


def test_undo_leaves_rows_changed_since_the_remap_and_counts_them(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    execute_plan(db, plan, journal)
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE conversations SET vault_id = 'user-carl' WHERE rowid = (SELECT "
        "min(rowid) FROM conversations WHERE vault_id = 'user-alice')"
    )
    conn.commit()
    result = undo_plan(db, plan.plan_id, journal)
    assert result["skipped_changed"] == {"conversations": 1}
    assert (
        conn.execute("SELECT COUNT(*) FROM conversations WHERE vault_id = 'user-carl'").fetchone()[
            0
        ]
        == 1
    )
    assert "1 skipped" in plan_status(db, plan.plan_id, journal)["message"]


def test_offline_mode_moves_the_same_rows_and_recreates_the_same_indexes(db, journal):
    conn = sqlite3.connect(db)
    ddl = sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index'"))
    before = snapshot(db)
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(spread(roots(db)))))
    result = execute_plan(db, plan, journal, mode="offline")
    assert result["batches"] == 1 and result["moved_total"] == plan.moves_total
    assert sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index'")) == ddl
    assert integrity(db) == [("ok",)]
    assert isolation_audit(db)["clean"]
    undo_plan(db, plan.plan_id, journal)
    assert snapshot(db) == before


def test_every_vault_table_is_covered(db):
    plan = build_plan(db, MoveVault("user-alice"))
    assert set(plan.preview["tables"]) == set(vault_tables(db))


def test_progress_reports_the_check_then_each_batch_with_rows_done_and_total(db, journal):
    calls = []
    plan = build_plan(db, MoveVault("user-alice"))
    result = execute_plan(
        db, plan, journal, batch_rows=200, progress=lambda *args: calls.append(args)
    )
    assert [c[0] for c in calls[:2]] == ["check", "check"]
    moves = [c for c in calls if c[0] == "move"]
    assert len(moves) == result["batches"]
    assert moves[-1][1:3] == (plan.moves_total, plan.moves_total)
    assert moves[0][3].startswith("batch 1: ")


def test_fast_durability_moves_the_same_rows(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    result = execute_plan(db, plan, journal, durability="fast")
    assert result["durability"] == "fast" and result["moved_total"] == plan.moves_total
    assert integrity(db) == [("ok",)]


def test_two_sessions_of_one_conversation_mapped_to_two_vaults_are_a_listed_conflict(db, journal):
    conn = sqlite3.connect(db)
    (s1, conv), (s2, _) = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE vault_id = ? AND conversation_id IS NOT "
        "NULL ORDER BY rowid LIMIT 2",
        (SOURCE,),
    ).fetchall()
    conn.execute("UPDATE sessions SET conversation_id = ? WHERE id = ?", (conv, s2))
    conn.commit()
    plan = build_plan(
        db, SplitByMapping.from_csv(mapping_csv([(s1, "user-ann"), (s2, "user-ben")], "session_id"))
    )
    conflicts = plan.preview["conflicts"]
    assert conflicts["components"] == 1
    assert conflicts["rows"]["sessions"] == 2 and conflicts["rows"]["conversations"] == 1
    votes = {v["vault"]: v["roots"] for v in conflicts["sample"][0]["votes"]}
    assert votes == {
        "user-ann": [{"key": "session_id", "id": s1, "line": 2}],
        "user-ben": [{"key": "session_id", "id": s2, "line": 3}],
    }
    assert plan.moves_total == 0
    before = snapshot(db)
    execute_plan(db, plan, journal)
    assert snapshot(db) == before
