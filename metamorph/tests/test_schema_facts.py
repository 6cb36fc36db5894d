"""makedemodb's files have Metamorph's schema exactly: column for column, key for key, index
for index, in every state and both data shapes, compared table by table against the facts
file (docs/metamorph-schema.md). No foreign key Metamorph lacks: its own writes would fail."""

import sqlite3

import pytest

from . import schema_facts as facts

LEGACY = facts.legacy_tables()
SANDBOX = facts.sandbox_tables()
COMPOSITE = facts.composite_indexes()
STORE = [t for t in LEGACY if t != "session_states"]
VAULT_COLUMN = ("vault_id", "TEXT", 1, "'default-vault'", 0)
AUTOUPGRADE = {f"idx_{t}_vault": (t, (("vault_id", False),)) for t in STORE}
FRESH_EXTRA = {
    "idx_messages_vault": ("messages", (("vault_id", False),)),
    "idx_semantic_memory_vault": ("semantic_memory", (("vault_id", False),)),
    "idx_sessions_vault": ("sessions", (("vault_id", False),)),
    "idx_session_states_vault_activity": (
        "session_states",
        (("vault_id", False), ("last_activity", True)),
    ),
}


def columns(conn, table):
    return [(r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(f"PRAGMA table_xinfo({table})")]


def expected_columns(table, state):
    cols = [(c.name, c.type, int(c.notnull), c.default, int(c.pk)) for c in table.columns]
    if table.name in SANDBOX:
        return [(n, t, nn, d, pk) for n, t, nn, d, pk in cols]
    if state == "fresh":
        cols.insert(1, VAULT_COLUMN)
    elif state == "migrated" or (state == "autoupgraded" and table.name in STORE):
        cols.append(VAULT_COLUMN)
    return cols


def foreign_keys(conn, table):
    return {(r[3], r[2]) for r in conn.execute(f"PRAGMA foreign_key_list({table})")}


def indexes(conn, table, origin):
    out = {}
    for r in conn.execute(f"PRAGMA index_list({table})"):
        if r[3] == origin:
            keys = tuple(
                (x[2], bool(x[3])) for x in conn.execute(f"PRAGMA index_xinfo({r[1]})") if x[5]
            )
            out[r[1] if origin == "c" else keys] = keys
    return out


def expected_indexes(name, state):
    out = {}
    if name in LEGACY:
        out.update({n: keys for n, (keys, _) in LEGACY[name].indexes.items()})
    if name in SANDBOX:
        out.update({n: keys for n, (keys, _) in SANDBOX[name].indexes.items()})
    extra = {"autoupgraded": AUTOUPGRADE, "fresh": FRESH_EXTRA}.get(state, {})
    out.update({n: keys for n, (t, keys) in extra.items() if t == name})
    if state == "migrated":
        out.update(
            {n: tuple((c, False) for c in cols) for n, (t, cols) in COMPOSITE.items() if t == name}
        )
    return out


def expected_uniques(name, state):
    if name in SANDBOX:
        return {tuple((c, False) for c in cols) for cols in SANDBOX[name].table_uniques}
    cols = [c.name for c in LEGACY[name].columns if c.unique]
    if state == "fresh" and cols:  # a fresh install scopes the arc key by vault
        return {(("vault_id", False), (cols[0], False))}
    return {((c, False),) for c in cols}


@pytest.mark.parametrize("shape", ["observed", "linked"])
@pytest.mark.parametrize("state", ["legacy", "autoupgraded", "fresh", "migrated"])
def test_every_table_equals_metamorphs_schema(metamorph_db, state, shape):
    path = metamorph_db(state, sessions=20, shape=shape)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    expected = set(LEGACY) | (
        set(SANDBOX) | {"schema_migrations"} if state == "migrated" else set()
    )
    assert tables == expected
    for name in sorted(tables - {"schema_migrations"}):
        table = LEGACY.get(name) or SANDBOX[name]
        assert columns(conn, name) == expected_columns(table, state), name
        assert foreign_keys(conn, name) == table.foreign_keys, name
        assert indexes(conn, name, "c") == expected_indexes(name, state), name
        assert set(indexes(conn, name, "u")) == expected_uniques(name, state), name


def test_evolution_snapshots_has_no_foreign_key_so_metamorphs_snapshot_write_succeeds(metamorph_db):
    path = metamorph_db("legacy", sessions=5, shape="observed")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")  # better-sqlite3 turns them on
    # saveEvolutionSnapshot's normal case: a conversation id no conversations row holds.
    conn.execute(
        "INSERT INTO evolution_snapshots (id, conversation_id, stance, trigger, "
        "drift_at_snapshot, timestamp) VALUES ('s1', 'conv-without-row', '{}', "
        "'drift', 5, '2026-01-01T00:00:00.000Z')"
    )
    conn.execute(
        "INSERT INTO emotional_arcs (id, conversation_id, emotions, insights, "
        "patterns, updated_at) VALUES ('conv-without-row', 'conv-without-row', '[]', "
        "'[]', '[]', '2026-01-01')"
    )
    conn.commit()
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_facts_file_is_parsed_completely():
    # Guards the parser: if the file's layout changed, the comparison above would be empty.
    assert len(LEGACY) == 11 and len(SANDBOX) == 3 and len(COMPOSITE) == 32
    assert LEGACY["evolution_snapshots"].foreign_keys == set()
    assert LEGACY["sessions"].foreign_keys == {("conversation_id", "conversations")}
    assert SANDBOX["sandboxes"].foreign_keys == {("vercel_connection_id", "vercel_connections")}
