"""Metamorph's migrations 001 and 002 as the SQL statements its TypeScript executes.

Transcribed as data from src/db/migrations/001_add_vault_id.ts and
002_add_vercel_sandbox_tables.ts (feature/multitenancy), independently of the
engine, so tests can check that our run leaves the schema Metamorph's would.
"""

import sqlite3

TABLES_001 = (
    "sessions",
    "messages",
    "conversations",
    "semantic_memory",
    "identity",
    "evolution_snapshots",
    "operator_performance",
    "subagent_results",
    "emotional_arcs",
    "emotion_context",
    "session_states",
    "identity_checkpoints",
    "operator_efficacy",
    "coherence_metrics",
    "persona_variants",
    "emergence_traces",
    "memory_associations",
    "memory_compression_queue",
    "remote_sync_queue",
    "identity_compression",
    "steering_messages",
)
INDEXES_001 = (
    (
        ("sessions", "idx_sessions_vault_id", ("vault_id", "id")),
        ("sessions", "idx_sessions_vault_accessed", ("vault_id", "last_accessed")),
        ("session_states", "idx_session_states_vault_id", ("vault_id", "id")),
        ("session_states", "idx_session_states_vault_activity", ("vault_id", "last_activity")),
        ("conversations", "idx_conversations_vault_id", ("vault_id", "id")),
        ("conversations", "idx_conversations_vault_updated", ("vault_id", "updated_at")),
        ("messages", "idx_messages_vault_id", ("vault_id", "id")),
        ("messages", "idx_messages_vault_conversation", ("vault_id", "conversation_id")),
        ("semantic_memory", "idx_semantic_memory_vault_id", ("vault_id", "id")),
        ("semantic_memory", "idx_semantic_memory_vault_type", ("vault_id", "type")),
        ("identity", "idx_identity_vault_id", ("vault_id", "id")),
        ("evolution_snapshots", "idx_evolution_snapshots_vault_id", ("vault_id", "id")),
        (
            "evolution_snapshots",
            "idx_evolution_snapshots_vault_conv",
            ("vault_id", "conversation_id"),
        ),
        ("operator_performance", "idx_operator_performance_vault_id", ("vault_id", "id")),
        (
            "operator_performance",
            "idx_operator_performance_vault_op",
            ("vault_id", "operator_name"),
        ),
        ("subagent_results", "idx_subagent_results_vault_id", ("vault_id", "id")),
        ("subagent_results", "idx_subagent_results_vault_agent", ("vault_id", "subagent_name")),
        ("emotional_arcs", "idx_emotional_arcs_vault_id", ("vault_id", "id")),
        ("emotional_arcs", "idx_emotional_arcs_vault_conv", ("vault_id", "conversation_id")),
        ("emotion_context", "idx_emotion_context_vault_id", ("vault_id", "id")),
        ("emotion_context", "idx_emotion_context_vault_session", ("vault_id", "session_id")),
    )
    + tuple(
        (t, f"idx_{t}_vault_id", ("vault_id", "id"))
        for t in (
            "identity_checkpoints",
            "operator_efficacy",
            "coherence_metrics",
            "persona_variants",
            "emergence_traces",
            "memory_associations",
            "memory_compression_queue",
            "remote_sync_queue",
            "identity_compression",
            "steering_messages",
        )
    )
    + (("steering_messages", "idx_steering_messages_vault_session", ("vault_id", "session_id")),)
)

SQL_002 = """
CREATE TABLE IF NOT EXISTS vercel_connections (
    id TEXT PRIMARY KEY, vault_id TEXT NOT NULL, vercel_user_id TEXT NOT NULL,
    vercel_team_id TEXT, access_token TEXT NOT NULL, refresh_token TEXT,
    token_expires_at TEXT, scopes TEXT NOT NULL,
    connection_status TEXT NOT NULL DEFAULT 'active', created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE(vault_id, vercel_user_id));
CREATE INDEX IF NOT EXISTS idx_vercel_connections_vault_id ON vercel_connections(vault_id);
CREATE INDEX IF NOT EXISTS idx_vercel_connections_status
    ON vercel_connections(vault_id, connection_status);
CREATE INDEX IF NOT EXISTS idx_vercel_connections_vercel_user
    ON vercel_connections(vercel_user_id);
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY, vault_id TEXT NOT NULL, vercel_connection_id TEXT,
    sandbox_vercel_id TEXT, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    runtime TEXT NOT NULL DEFAULT 'node22', vcpus INTEGER NOT NULL DEFAULT 2,
    memory_mb INTEGER NOT NULL DEFAULT 2048, timeout_minutes INTEGER NOT NULL DEFAULT 30,
    environment TEXT, working_directory TEXT DEFAULT '/vercel/sandbox',
    agent_session_id TEXT, agent_config TEXT, created_at TEXT NOT NULL, started_at TEXT,
    stopped_at TEXT, last_activity_at TEXT, total_runtime_seconds INTEGER DEFAULT 0,
    error_message TEXT,
    FOREIGN KEY (vercel_connection_id) REFERENCES vercel_connections(id));
CREATE INDEX IF NOT EXISTS idx_sandboxes_vault_id ON sandboxes(vault_id);
CREATE INDEX IF NOT EXISTS idx_sandboxes_status ON sandboxes(vault_id, status);
CREATE INDEX IF NOT EXISTS idx_sandboxes_connection ON sandboxes(vercel_connection_id);
CREATE INDEX IF NOT EXISTS idx_sandboxes_vercel_id ON sandboxes(sandbox_vercel_id);
CREATE INDEX IF NOT EXISTS idx_sandboxes_created ON sandboxes(vault_id, created_at);
CREATE INDEX IF NOT EXISTS idx_sandboxes_agent ON sandboxes(agent_session_id);
CREATE TABLE IF NOT EXISTS sandbox_resource_usage (
    id TEXT PRIMARY KEY, vault_id TEXT NOT NULL, period_start TEXT NOT NULL,
    period_end TEXT NOT NULL, sandbox_count INTEGER DEFAULT 0,
    total_runtime_seconds INTEGER DEFAULT 0, total_executions INTEGER DEFAULT 0,
    sandbox_limit INTEGER DEFAULT 5, runtime_limit_hours INTEGER DEFAULT 100,
    limit_exceeded BOOLEAN DEFAULT FALSE, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_sandbox_resource_usage_vault_id
    ON sandbox_resource_usage(vault_id);
CREATE INDEX IF NOT EXISTS idx_sandbox_resource_usage_period
    ON sandbox_resource_usage(vault_id, period_start);
CREATE UNIQUE INDEX IF NOT EXISTS idx_sandbox_resource_usage_vault_period
    ON sandbox_resource_usage(vault_id, period_start);
"""


def _columns(conn, table):
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}


def migrate_like_metamorph(path):
    """Apply 001 and 002 the way Metamorph's migrator does, on the file at `path`."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\n id TEXT PRIMARY KEY,\n "
        "applied_at TEXT NOT NULL,\n checksum TEXT NOT NULL\n)"
    )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.execute("BEGIN")
    for t in TABLES_001:
        if t in tables and "vault_id" not in _columns(conn, t):
            conn.execute(
                f"ALTER TABLE \"{t}\" ADD COLUMN vault_id TEXT NOT NULL DEFAULT 'default-vault'"
            )
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    for table, name, cols in INDEXES_001:
        if table in tables and name not in indexes and set(cols) <= _columns(conn, table):
            quoted = ", ".join(f'"{c}"' for c in cols)
            conn.execute(f'CREATE INDEX "{name}" ON "{table}"({quoted})')
    conn.execute(
        "INSERT INTO schema_migrations VALUES ('001_add_vault_id', "
        "'2026-01-01T00:00:00.000Z', '6b21027c')"
    )
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    for statement in SQL_002.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_migrations VALUES ('002_add_vercel_sandbox_tables', "
        "'2026-01-01T00:00:00.001Z', '4f41dc34')"
    )
    conn.execute("COMMIT")
    conn.close()
