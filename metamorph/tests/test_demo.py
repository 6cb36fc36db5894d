"""makedemodb's builder produces the schema Metamorph's code creates, in each state."""

import pytest

from conftest import sql
from metamorph import schema
from metamorph.demo import DemoSpecError, build_demo_database


def tables(path):
    return {r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type='table'")}


def columns(path, table):
    return [r[1] for r in sql(path, f"PRAGMA table_info({table})")]


def test_legacy_database_has_eleven_tables_and_no_vault_column(metamorph_db):
    path = metamorph_db("legacy")
    assert tables(path) == set(schema.LEGACY_TABLES)
    assert all("vault_id" not in columns(path, t) for t in schema.LEGACY_TABLES)
    assert {
        r[0]
        for r in sql(
            path, "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'idx_%'"
        )
    } == {i.name for i in schema.LEGACY_INDEXES}


def test_legacy_database_without_session_states_has_ten_tables(metamorph_db):
    assert tables(metamorph_db("legacy", session_states=False)) == set(schema.STORE_TABLES)


def test_legacy_columns_follow_store_ts_order(metamorph_db):
    path = metamorph_db("legacy")
    assert columns(path, "sessions") == [
        "id",
        "name",
        "conversation_id",
        "last_accessed",
        "created_at",
        "message_count",
        "current_frame",
        "current_drift",
    ]
    assert columns(path, "emotion_context")[:3] == ["id", "session_id", "current_emotion"]


def test_autoupgraded_adds_vault_id_last_to_store_tables_but_not_session_states(metamorph_db):
    path = metamorph_db("autoupgraded")
    for t in schema.STORE_TABLES:
        assert columns(path, t)[-1] == "vault_id"
    assert "vault_id" not in columns(path, "session_states")
    assert sql(path, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'idx_%_vault'")[0][0] == 10
    assert sql(path, "SELECT DISTINCT vault_id FROM messages") == [("default-vault",)]


def test_fresh_install_has_vault_id_second_and_a_vault_scoped_arc_key(metamorph_db):
    path = metamorph_db("fresh")
    for t in schema.LEGACY_TABLES:
        assert columns(path, t)[1] == "vault_id"
    arc_sql = sql(path, "SELECT sql FROM sqlite_master WHERE name='emotional_arcs'")[0][0]
    assert "UNIQUE(vault_id, conversation_id)" in arc_sql
    assert "conversation_id TEXT NOT NULL UNIQUE" not in arc_sql
    ddl = sql(path, "SELECT sql FROM sqlite_master WHERE name='idx_session_states_vault_activity'")
    assert "last_activity DESC" in ddl[0][0]


def test_migrated_database_records_both_migrations_and_spreads_rows(metamorph_db):
    path = metamorph_db("migrated", vaults=6)
    assert [r[0] for r in sql(path, "SELECT id FROM schema_migrations ORDER BY id")] == list(
        schema.MIGRATION_IDS
    )
    info = [r for r in sql(path, "PRAGMA table_info(sessions)") if r[1] == "vault_id"][0]
    assert info[2:5] == ("TEXT", 1, "'default-vault'")
    assert set(schema.SANDBOX_TABLES) <= tables(path)
    vaults = {r[0] for r in sql(path, "SELECT DISTINCT vault_id FROM messages")}
    assert "default-vault" in vaults and len(vaults) > 2


def test_linked_rows_share_their_conversations_vault(metamorph_db):
    path = metamorph_db("migrated")
    assert (
        sql(
            path,
            "SELECT COUNT(*) FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.vault_id <> m.vault_id",
        )[0][0]
        == 0
    )
    assert (
        sql(
            path,
            "SELECT COUNT(*) FROM messages m LEFT JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.id IS NULL",
        )[0][0]
        == 0
    )


def test_some_sessions_keep_a_null_conversation_like_real_databases(metamorph_db):
    path = metamorph_db("legacy", sessions=200)
    assert sql(path, "SELECT COUNT(*) FROM sessions WHERE conversation_id IS NULL")[0][0] > 0


def test_optional_tables_are_created_only_when_asked(metamorph_db):
    assert set(schema.OPTIONAL_TABLES) <= tables(metamorph_db("legacy", optional_tables=True))
    assert not set(schema.OPTIONAL_TABLES) & tables(metamorph_db("legacy"))


def test_same_seed_builds_the_same_rows(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    build_demo_database(str(a), sessions=20, seed=7)
    build_demo_database(str(b), sessions=20, seed=7)
    assert sql(str(a), "SELECT id, content FROM messages ORDER BY id") == sql(
        str(b), "SELECT id, content FROM messages ORDER BY id"
    )


def test_builder_never_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "x.db"
    path.write_bytes(b"operator data")
    with pytest.raises(DemoSpecError, match="already exists"):
        build_demo_database(str(path), sessions=5)
    assert path.read_bytes() == b"operator data"


def test_unknown_state_is_refused_with_the_valid_choices(tmp_path):
    with pytest.raises(DemoSpecError, match="legacy, autoupgraded, fresh, migrated"):
        build_demo_database(str(tmp_path / "y.db"), state="sideways")
