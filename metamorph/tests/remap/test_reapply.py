"""Executing re-applies the rule to the data as it is now: rows the server added since the
preview move too (counted apart), rows whose decision changed are held back and listed,
and nothing is refused because the server wrote."""

import sqlite3

import pytest

from metamorph.remap import (
    MoveVault,
    RemapPlan,
    SplitByMapping,
    build_plan,
    execute_plan,
    plan_status,
    undo_plan,
)

from .helpers import SOURCE, integrity, mapping_csv, roots, snapshot, spread


@pytest.fixture
def db(metamorph_db):
    return metamorph_db("migrated", optional_tables=True)


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "journal.sqlite3")


def add_operator_row(db, row_id, vault=SOURCE):
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO operator_performance (id, operator_name, trigger_type, "
        "effectiveness_score, transformation_score, coherence_score, drift_cost, "
        "timestamp, vault_id) VALUES (?, 'op', 't', 1, 1, 1, 1, 'now', ?)",
        (row_id, vault),
    )
    conn.commit()
    conn.close()


def vault_of(db, table, row_id):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT vault_id FROM {table} WHERE id = ?", (row_id,)).fetchone()[0]
    finally:
        conn.close()


def test_rows_added_since_the_preview_are_moved_too_and_counted_apart(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    add_operator_row(db, "written-after-the-preview")
    result = execute_plan(db, plan, journal, batch_rows=64)
    assert vault_of(db, "operator_performance", "written-after-the-preview") == "user-alice"
    assert result["moved_total"] == plan.moves_total + 1
    row = result["tables"]["operator_performance"]
    assert row["added_since_preview"] == 1
    assert row["moved_now"] == row["preview"] + 1 and row["held_back"] == 0
    assert result["held_back_total"] == 0 and result["left_in_source"] == {}


def test_rows_deleted_since_the_preview_are_reported_gone_and_the_run_completes(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    conn = sqlite3.connect(db)
    gone = conn.execute(
        "DELETE FROM operator_performance WHERE rowid IN (SELECT rowid FROM "
        "operator_performance WHERE vault_id = ? LIMIT 3)",
        (SOURCE,),
    ).rowcount
    conn.commit()
    result = execute_plan(db, plan, journal)
    assert gone == 3 and result["tables"]["operator_performance"]["gone"] == 3
    assert result["moved_total"] == plan.moves_total - 3
    assert plan_status(db, plan.plan_id, journal)["state"] == "completed"


def test_a_row_whose_link_changed_since_the_preview_is_held_back_and_listed(db, journal):
    pairs = spread(roots(db))
    plan = build_plan(db, SplitByMapping.from_csv(mapping_csv(pairs)))
    target = dict(pairs)
    ann = next(c for c, v in pairs if v == "user-ann")
    ben = next(c for c, v in pairs if v == "user-ben")
    conn = sqlite3.connect(db)
    msg = conn.execute(
        "SELECT id FROM messages WHERE conversation_id = ? LIMIT 1", (ann,)
    ).fetchone()[0]
    conn.execute("UPDATE messages SET conversation_id = ? WHERE id = ?", (ben, msg))
    conn.commit()
    result = execute_plan(db, plan, journal, batch_rows=50)
    assert vault_of(db, "messages", msg) == SOURCE  # held back, not sent to ben
    assert result["tables"]["messages"]["held_back"] == 1
    assert result["tables"]["messages"]["held_back_why"] == {"changed_target": 1}
    [sample] = result["held_back_sample"]
    assert sample["table"] == "messages" and sample["why"] == "changed_target"
    assert sample["id"] == msg
    assert (sample["previewed"], sample["now"]) == ("user-ann", target[ben])
    assert result["moved_total"] == plan.moves_total - 1


def test_a_new_conflict_since_the_preview_holds_its_rows_back(db, journal):
    conn = sqlite3.connect(db)
    (s1, c1), (s2, c2) = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE vault_id = ? AND conversation_id IS NOT "
        "NULL ORDER BY rowid LIMIT 2",
        (SOURCE,),
    ).fetchall()
    plan = build_plan(
        db, SplitByMapping.from_csv(mapping_csv([(s1, "user-ann"), (s2, "user-ben")], "session_id"))
    )
    assert plan.preview["conflicts"]["rows_total"] == 0
    conn.execute("UPDATE sessions SET conversation_id = ? WHERE id = ?", (c1, s2))
    conn.commit()
    result = execute_plan(db, plan, journal)
    held = result["tables"]["sessions"]["held_back_why"]
    assert held.get("conflict") == 2
    assert vault_of(db, "sessions", s1) == vault_of(db, "sessions", s2) == SOURCE
    assert vault_of(db, "conversations", c1) == SOURCE


def test_a_completed_plan_run_again_moves_what_the_server_wrote_since(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    execute_plan(db, plan, journal)
    add_operator_row(db, "late-1")
    add_operator_row(db, "late-2")
    again = execute_plan(db, plan, journal)
    assert again["moved_total"] == 2 and not again["already_completed"]
    assert again["tables"]["operator_performance"]["added_since_preview"] == 2
    assert vault_of(db, "operator_performance", "late-2") == "user-alice"
    assert execute_plan(db, plan, journal)["already_completed"]
    undo = undo_plan(db, plan.plan_id, journal)
    assert undo["restored_total"] == plan.moves_total + 2
    assert vault_of(db, "operator_performance", "late-1") == SOURCE


def test_a_format_1_plan_without_decisions_still_runs(db, journal):
    plan = build_plan(db, MoveVault("user-alice"))
    old = RemapPlan(
        plan.plan_id, plan.created_at, plan.db_path, plan.rule, plan.fingerprint, plan.preview, None
    )
    result = execute_plan(db, RemapPlan.from_json(old.to_json()), journal)
    assert result["moved_total"] == plan.moves_total and not result["decisions_kept"]


def test_the_stored_decisions_of_a_large_move_are_small(metamorph_db):
    db = metamorph_db("migrated", sessions=400, vaults=2)
    plan = build_plan(db, MoveVault("user-alice"))
    restored = RemapPlan.from_json(plan.to_json())
    assert restored.decisions.rowids.keys() == plan.decisions.rowids.keys()
    for table, rowids in plan.decisions.rowids.items():
        assert list(restored.decisions.rowids[table]) == list(rowids)
        assert list(restored.decisions.codes[table]) == list(plan.decisions.codes[table])
    assert len(plan.to_json()) < 20_000 + 200 * plan.moves_total // 1000


def test_undo_holds_back_a_row_whose_old_unique_key_was_taken_meanwhile(metamorph_db, tmp_path):
    db = metamorph_db("fresh")  # emotional_arcs UNIQUE(vault_id, conversation_id)
    journal = str(tmp_path / "j.sqlite3")
    conn = sqlite3.connect(db)
    source = conn.execute("SELECT vault_id FROM emotional_arcs LIMIT 1").fetchone()[0]
    before = snapshot(db)
    plan = build_plan(db, MoveVault("user-alice", source))
    execute_plan(db, plan, journal)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(emotional_arcs)")]
    conv = conn.execute(
        "SELECT conversation_id FROM emotional_arcs WHERE vault_id = 'user-alice' LIMIT 1"
    ).fetchone()[0]
    values = {
        "id": "server-arc",
        "vault_id": source,
        "conversation_id": conv,
        "emotions": "[]",
        "insights": "[]",
        "patterns": "[]",
        "updated_at": "now",
    }
    names = [c for c in cols if c in values]
    conn.execute(
        f"INSERT INTO emotional_arcs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [values[c] for c in names],
    )
    conn.commit()
    result = undo_plan(db, plan.plan_id, journal)
    assert result["skipped_changed"] == {"emotional_arcs": 1}
    assert result["restored_total"] == plan.moves_total - 1
    assert integrity(db) == [("ok",)]
    after = snapshot(db)
    assert sum(1 for k, v in before.items() if after[k] != v) == 1  # only the held one
