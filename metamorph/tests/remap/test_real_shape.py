"""Real deployments' files (schema file 1.1) and tidy ones: one link model, one audit."""

import sqlite3

import pytest

from metamorph.errors import InvalidRemapRule, InvalidVaultId
from metamorph.remap import (
    MoveVault,
    SplitByMapping,
    build_plan,
    discover_owner_sources,
    execute_plan,
    isolation_audit,
    undo_plan,
)

from .helpers import SOURCE, mapping_csv, roots, snapshot, spread


@pytest.fixture
def real(metamorph_db):
    """A legacy file as Metamorph's CLI leaves it, migrated: every row in default-vault."""
    return metamorph_db("migrated", sessions=60, vaults=1, shape="observed")


@pytest.fixture
def tidy(metamorph_db):
    return metamorph_db("migrated", sessions=60, vaults=1, shape="linked")


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "journal.sqlite3")


def rows_of(path, conv):
    """{table: {vault}} of every row linked to conversation id `conv`, real-shape links."""
    conn = sqlite3.connect(path)
    out = {}
    for table, where in (
        ("sessions", "id = ?"),
        ("evolution_snapshots", "conversation_id = ?"),
        ("emotional_arcs", "conversation_id = ?"),
        ("semantic_memory", "json_extract(metadata, '$.conversationId') = ?"),
    ):
        vaults = {
            r[0] for r in conn.execute(f"SELECT vault_id FROM {table} WHERE {where}", (conv,))
        }
        if vaults:
            out[table] = vaults
    return out


def conversations_without_session(path):
    conn = sqlite3.connect(path)
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT conversation_id FROM evolution_snapshots WHERE conversation_id NOT IN "
            "(SELECT id FROM sessions) ORDER BY 1"
        )
    ]


def test_the_observed_demo_has_the_real_shape(real):
    conn = sqlite3.connect(real)
    count = lambda t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: E731
    for empty in ("conversations", "messages", "identity", "subagent_results", "emotion_context"):
        assert count(empty) == 0, empty
    assert (
        conn.execute("SELECT COUNT(*) FROM sessions WHERE conversation_id IS NOT NULL").fetchone()[
            0
        ]
        == 0
    )
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM evolution_snapshots WHERE conversation_id IN "
            "(SELECT id FROM sessions)"
        ).fetchone()[0]
        > 0
    )
    assert (
        conn.execute("SELECT COUNT(*) FROM emotional_arcs WHERE id != conversation_id").fetchone()[
            0
        ]
        == 0
    )
    assert conversations_without_session(real)


def test_a_session_mapping_on_a_real_file_takes_every_snapshot_arc_and_memory_along(real, journal):
    pairs = spread(roots(real, "sessions"))
    plan = build_plan(real, SplitByMapping.from_csv(mapping_csv(pairs, "session_id")))
    moves = {t for per_vault in plan.preview["moves"].values() for t in per_vault}
    assert {"sessions", "evolution_snapshots", "emotional_arcs", "semantic_memory"} <= moves
    execute_plan(real, plan, journal, batch_rows=64)
    for session, vault in pairs:
        linked = rows_of(real, session)
        assert all(v == {vault} for v in linked.values()), (session, linked)
    assert isolation_audit(real)["clean"]


def test_conversation_ids_found_anywhere_are_accepted_and_the_preview_says_where(real, journal):
    with_session = roots(real, "sessions")[0]
    without = conversations_without_session(real)[0]
    rule = SplitByMapping.from_csv(mapping_csv([(with_session, "user-ann"), (without, "user-ben")]))
    plan = build_plan(real, rule)
    found = {s["id"]: s["found_in"] for s in plan.preview["mapping_ids"]["sample"]}
    assert "sessions.id" in found[with_session]
    assert "sessions.id" not in found[without]
    assert "evolution_snapshots.conversation_id" in found[without]
    assert plan.preview["mapping_ids"]["ids"] == 2
    execute_plan(real, plan, journal)
    assert all(v == {"user-ann"} for v in rows_of(real, with_session).values())
    assert all(v == {"user-ben"} for v in rows_of(real, without).values())
    assert isolation_audit(real)["clean"]


@pytest.mark.parametrize("shape", ["observed", "linked"])
def test_the_audit_fails_when_one_linked_row_is_left_behind(metamorph_db, shape):
    path = metamorph_db("migrated", sessions=60, vaults=1, shape=shape)
    conn = sqlite3.connect(path)
    session = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE id IN (SELECT "
        "conversation_id FROM evolution_snapshots) OR conversation_id IN "
        "(SELECT conversation_id FROM messages) ORDER BY rowid LIMIT 1"
    ).fetchone()
    conv = session[1] or session[0]
    child = "messages" if shape == "linked" else "evolution_snapshots"
    left = conn.execute(
        f"SELECT min(rowid) FROM {child} WHERE conversation_id = ?", (conv,)
    ).fetchone()[0]
    # Everything of the conversation moved by hand, except one row.
    for table in (
        "sessions",
        "conversations",
        "messages",
        "evolution_snapshots",
        "emotional_arcs",
        "subagent_results",
    ):
        col = "id" if table in ("sessions", "conversations") else "conversation_id"
        conn.execute(
            f"UPDATE {table} SET vault_id = 'user-ann' WHERE {col} IN (?, ?)", (conv, session[0])
        )
    conn.execute(f"UPDATE {child} SET vault_id = ? WHERE rowid = ?", (SOURCE, left))
    conn.commit()
    audit = isolation_audit(path)
    assert not audit["clean"]
    (finding,) = [f for f in audit["findings"] if f["table"] == child]
    assert finding["link"] == f"{child}.conversation_id" and finding["rows"] == 1
    assert finding["sample"][0]["vault"] == SOURCE
    assert finding["sample"][0]["parent_vault"] == "user-ann"


def test_rows_of_a_conversation_no_row_holds_split_over_two_vaults_are_found(real):
    conv = conversations_without_session(real)[0]
    conn = sqlite3.connect(real)
    for n in range(2):
        conn.execute(
            "INSERT INTO evolution_snapshots (id, conversation_id, stance, trigger, "
            "drift_at_snapshot, timestamp) VALUES (?, ?, '{}', 'drift', 3, "
            "'2026-01-01T00:00:00.000Z')",
            (f"extra-{n}", conv),
        )
    conn.execute("UPDATE evolution_snapshots SET vault_id = 'user-ann' WHERE id = 'extra-0'")
    conn.commit()
    audit = isolation_audit(real)
    (finding,) = audit["findings"]
    assert finding["link"] == "evolution_snapshots.conversation_id" and finding["rows"] == 1
    assert finding["sample"][0] == {
        "id": "extra-0",
        "vault": "user-ann",
        "parent_id": conv,
        "parent_vault": SOURCE,
    }
    assert "an id no conversations or sessions row holds" in finding["message"]


def test_unattributable_rows_are_named_and_stay_by_default(real):
    plan = build_plan(
        real, SplitByMapping.from_csv(mapping_csv(spread(roots(real, "sessions")), "session_id"))
    )
    named = plan.preview["unattributable"]
    conn = sqlite3.connect(real)
    unlinked = conn.execute(
        "SELECT COUNT(*) FROM semantic_memory WHERE json_extract(metadata, "
        "'$.conversationId') IS NULL"
    ).fetchone()[0]
    ops = conn.execute("SELECT COUNT(*) FROM operator_performance").fetchone()[0]
    assert named["rows"] == {"operator_performance": ops, "semantic_memory": unlinked}
    assert named["policy"] == "leave" and set(named["choices"]) == {
        "leave",
        "copy-identity",
        "send",
    }


def test_unattributable_rows_can_be_sent_to_one_named_vault(real, journal):
    rule = SplitByMapping.from_csv(
        mapping_csv(spread(roots(real, "sessions")), "session_id"),
        unattributed="send",
        unattributed_vault="team-shared",
    )
    plan = build_plan(real, rule)
    assert "rows that cannot be attributed go to 'team-shared'" in plan.preview["rule"]
    execute_plan(real, plan, journal)
    conn = sqlite3.connect(real)
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM operator_performance WHERE vault_id != 'team-shared'"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM semantic_memory WHERE json_extract(metadata, "
            "'$.conversationId') IS NULL AND vault_id != 'team-shared'"
        ).fetchone()[0]
        == 0
    )
    assert isolation_audit(real)["clean"]


def test_sending_unattributable_rows_to_the_source_or_without_a_vault_is_refused(real):
    data = mapping_csv(spread(roots(real, "sessions")), "session_id")
    with pytest.raises(InvalidRemapRule, match="is the source vault"):
        SplitByMapping.from_csv(data, unattributed="send", unattributed_vault=SOURCE)
    with pytest.raises(
        InvalidRemapRule, match="'send' needs the vault the rows that cannot be attributed go to"
    ):
        SplitByMapping.from_csv(data, unattributed="send", unattributed_vault="")
    with pytest.raises(InvalidVaultId, match="cannot be attributed 'a:b' cannot be used"):
        SplitByMapping.from_csv(data, unattributed="send", unattributed_vault="a:b")
    with pytest.raises(InvalidRemapRule, match="choose leave, copy-identity, send"):
        SplitByMapping.from_csv(data, unattributed="shred")


def test_a_memory_whose_metadata_is_not_json_stays_and_is_reported(real, journal):
    conn = sqlite3.connect(real)
    session = roots(real, "sessions")[0]
    conn.execute(
        "UPDATE semantic_memory SET metadata = '{not json' WHERE rowid = (SELECT "
        "min(rowid) FROM semantic_memory WHERE json_extract(metadata, "
        "'$.conversationId') = ?)",
        (session,),
    )
    conn.commit()
    rule = SplitByMapping.from_csv(
        mapping_csv([(session, "user-ann")], "session_id"),
        unattributed="send",
        unattributed_vault="team-shared",
    )
    plan = build_plan(real, rule)
    assert plan.preview["unattributable"]["metadata_not_json"] == {"semantic_memory": 1}
    assert plan.preview["stays"]["semantic_memory"]["metadata_not_json"] == 1
    execute_plan(real, plan, journal)
    assert (
        conn.execute(
            "SELECT vault_id FROM semantic_memory WHERE metadata = '{not json'"
        ).fetchone()[0]
        == SOURCE
    )
    audit = isolation_audit(real)
    assert audit["clean"], audit["findings"]


def test_a_conversation_id_and_its_session_sent_to_two_vaults_is_a_conflict(tidy, journal):
    conn = sqlite3.connect(tidy)
    session, conv = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE conversation_id IS NOT NULL LIMIT 1"
    ).fetchone()
    # The session's id is a conversation id too (real shape): mapped apart from its own
    # conversation row, the two cannot both be honoured.
    plan = build_plan(
        tidy, SplitByMapping.from_csv(mapping_csv([(conv, "user-ann"), (session, "user-ben")]))
    )
    conflicts = plan.preview["conflicts"]
    assert conflicts["components"] == 1 and plan.moves_total == 0
    assert conflicts["rows"]["sessions"] == 1 and conflicts["rows"]["conversations"] == 1
    assert {v["vault"] for v in conflicts["sample"][0]["votes"]} == {"user-ann", "user-ben"}
    found = {s["id"]: s["found_in"] for s in plan.preview["mapping_ids"]["sample"]}
    assert "sessions.id" in found[session] and "conversations.id" in found[conv]
    before = snapshot(tidy)
    execute_plan(tidy, plan, journal)
    assert snapshot(tidy) == before


def test_an_id_present_in_both_shapes_moves_as_one_root(tidy, journal):
    conn = sqlite3.connect(tidy)
    session, conv = conn.execute(
        "SELECT id, conversation_id FROM sessions WHERE "
        "conversation_id IN (SELECT conversation_id FROM messages) "
        "LIMIT 1"
    ).fetchone()
    # Rows written the real way name the session id as their conversation.
    conn.execute(
        "INSERT INTO evolution_snapshots (id, conversation_id, stance, trigger, "
        "drift_at_snapshot, timestamp) VALUES ('snap-real', ?, '{}', 'drift', 3, "
        "'2026-01-01T00:00:00.000Z')",
        (session,),
    )
    conn.execute(
        "INSERT INTO semantic_memory (id, type, content, importance, decay, timestamp, "
        "metadata) VALUES ('mem-real', 'insight', 'x', 1, 0, '2026-01-01', "
        "json_object('source', 'agent', 'conversationId', ?))",
        (session,),
    )
    conn.commit()
    plan = build_plan(
        tidy, SplitByMapping.from_csv(mapping_csv([(session, "user-ann")], "session_id"))
    )
    execute_plan(tidy, plan, journal)
    assert (
        conn.execute("SELECT vault_id FROM evolution_snapshots WHERE id = 'snap-real'").fetchone()[
            0
        ]
        == "user-ann"
    )
    assert (
        conn.execute("SELECT vault_id FROM semantic_memory WHERE id = 'mem-real'").fetchone()[0]
        == "user-ann"
    )
    assert {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT vault_id FROM messages WHERE conversation_id = ?", (conv,)
        )
    } == {"user-ann"}
    assert isolation_audit(tidy)["clean"]


def test_owner_discovery_offers_nothing_on_a_real_file(real):
    # metadata.source ('agent' / 'hook') and metadata.type describe memories, not users.
    assert discover_owner_sources(real) == []


def add_identity(path):
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO identity (id, self_model, persistent_values, emergent_goals, "
        "consciousness_insights, awareness_level, autonomy_level, identity_strength, "
        "created_at, updated_at) VALUES ('the-identity', '{\"self\":1}', '[]', '[]', "
        "'[]', 5, 6, 7, '2026-01-01', '2026-01-02')"
    )
    conn.commit()
    return conn


def test_the_identity_row_can_be_copied_into_every_target_vault_and_undone(real, journal):
    conn = add_identity(real)
    rule = SplitByMapping.from_csv(
        mapping_csv(spread(roots(real, "sessions")), "session_id"), unattributed="copy-identity"
    )
    plan = build_plan(real, rule)
    (copy,) = plan.preview["copies"]
    assert copy["id"] == "the-identity"
    assert copy["targets"] == ["user-ann", "user-ben", "user-cy"]
    result = execute_plan(real, plan, journal)
    assert result["copied"] == 3
    rows = conn.execute(
        "SELECT vault_id, self_model, awareness_level, id FROM identity ORDER BY vault_id"
    ).fetchall()
    assert [r[:3] for r in rows] == [
        ("default-vault", '{"self":1}', 5),
        ("user-ann", '{"self":1}', 5),
        ("user-ben", '{"self":1}', 5),
        ("user-cy", '{"self":1}', 5),
    ]
    assert len({r[3] for r in rows}) == 4  # each copy has its own id
    undone = undo_plan(real, plan.plan_id, journal)
    assert undone["copies_removed"] == 3
    assert conn.execute("SELECT vault_id, id FROM identity").fetchall() == [
        ("default-vault", "the-identity")
    ]
    assert isolation_audit(real)["clean"]


def test_copying_the_identity_needs_exactly_one_identity_row(real):
    rule = SplitByMapping.from_csv(
        mapping_csv(spread(roots(real, "sessions")), "session_id"), unattributed="copy-identity"
    )
    with pytest.raises(InvalidRemapRule) as err:
        build_plan(real, rule)
    assert "needs exactly one identity row in the source vault 'default-vault'; it has 0" in (
        str(err.value)
    )


@pytest.mark.parametrize("shape", ["observed", "linked"])
def test_a_whole_vault_move_and_its_undo_work_on_both_shapes(metamorph_db, journal, shape):
    path = metamorph_db("migrated", sessions=40, vaults=1, shape=shape)
    before = snapshot(path)
    plan = build_plan(path, MoveVault("user-solo"))
    assert plan.moves_total == len(before)
    execute_plan(path, plan, journal, batch_rows=100)
    assert {v for _, v in snapshot(path).values()} == {"user-solo"}
    assert isolation_audit(path)["clean"]
    undo_plan(path, plan.plan_id, journal)
    assert snapshot(path) == before


def test_a_split_by_mapping_leaves_an_observed_file_clean_after_undo(real, journal):
    before = snapshot(real)
    plan = build_plan(
        real, SplitByMapping.from_csv(mapping_csv(spread(roots(real, "sessions")), "session_id"))
    )
    execute_plan(real, plan, journal, batch_rows=50)
    assert isolation_audit(real)["clean"]
    undo_plan(real, plan.plan_id, journal)
    assert snapshot(real) == before


def test_owner_discovery_offers_id_like_keys_that_split_rows_and_nothing_else(real):
    conn = sqlite3.connect(real)
    conn.execute(
        "UPDATE semantic_memory SET metadata = json_set(metadata, "
        "'$.acct', 'a1b2c3d4-0000-4000-8000-00000000000' || (rowid % 4), "
        "'$.mood', CASE rowid % 2 WHEN 0 THEN 'calm' ELSE 'curious' END, "
        "'$.msgId', 'm-' || rowid, '$.solo', 'u-1')"
    )
    conn.commit()
    labels = {s["label"] for s in discover_owner_sources(real)}
    # acct: ids splitting rows into 4 owners; mood: words; msgId: one per row; solo: one owner
    assert labels == {"semantic_memory.metadata → acct"}
