"""What Metamorph's own code creates, as data.

Everything here is read from Metamorph's `store.ts`, `sqlite-adapter.ts` and its
migrations 001/002; the demo builder, the inspection and the migration engine all
read these lists, so the facts exist once.
"""

from dataclasses import dataclass

DEFAULT_VAULT = "default-vault"
VAULT_COLUMN = "vault_id"
VAULT_COLUMN_DDL = "vault_id TEXT NOT NULL DEFAULT 'default-vault'"

# The 21 user-scoped tables, in the order migration 001 visits them.
USER_SCOPED_TABLES = (
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
# Created by store.ts; session_states only when sessions persist in SQLite.
STORE_TABLES = (
    "conversations",
    "messages",
    "identity",
    "semantic_memory",
    "evolution_snapshots",
    "sessions",
    "operator_performance",
    "subagent_results",
    "emotional_arcs",
    "emotion_context",
)
SESSION_STATES = "session_states"
LEGACY_TABLES = STORE_TABLES + (SESSION_STATES,)
# Named by migration 001 but created by no Metamorph code: handled "if they exist".
OPTIONAL_TABLES = tuple(t for t in USER_SCOPED_TABLES if t not in LEGACY_TABLES)
SANDBOX_TABLES = ("vercel_connections", "sandboxes", "sandbox_resource_usage")
VAULT_TABLES = USER_SCOPED_TABLES + SANDBOX_TABLES
METAMORPH_TABLES = frozenset(VAULT_TABLES + ("schema_migrations",))
# Columns that hold OAuth secrets: never read into a page, a report or a log.
SECRET_COLUMNS = {"vercel_connections": ("access_token", "refresh_token")}


@dataclass(frozen=True)
class Link:
    """A child column naming a parent row (not a trustworthy foreign key)."""

    table: str
    column: str
    parent: str
    parent_column: str = "id"


LINKS = (
    Link("messages", "conversation_id", "conversations"),
    Link("sessions", "conversation_id", "conversations"),
    Link("evolution_snapshots", "conversation_id", "conversations"),
    Link("emotional_arcs", "conversation_id", "conversations"),
    Link("subagent_results", "conversation_id", "conversations"),
    Link("emotion_context", "session_id", "sessions"),
    Link("steering_messages", "session_id", "sessions"),
)

# Legacy DDL (store.ts / sqlite-adapter.ts). Column order matters: 001 appends vault_id last.
_LEGACY_COLUMNS = {
    "conversations": [
        "id TEXT PRIMARY KEY",
        "stance TEXT NOT NULL",
        "config TEXT NOT NULL",
        "created_at TEXT NOT NULL",
        "updated_at TEXT NOT NULL",
    ],
    "messages": [
        "id TEXT PRIMARY KEY",
        "conversation_id TEXT NOT NULL",
        "role TEXT NOT NULL",
        "content TEXT NOT NULL",
        "stance TEXT",
        "tools_used TEXT",
        "timestamp TEXT NOT NULL",
        "FOREIGN KEY (conversation_id) REFERENCES conversations(id)",
    ],
    "identity": [
        "id TEXT PRIMARY KEY",
        "self_model TEXT NOT NULL",
        "persistent_values TEXT NOT NULL",
        "emergent_goals TEXT NOT NULL",
        "consciousness_insights TEXT NOT NULL",
        "awareness_level INTEGER NOT NULL",
        "autonomy_level INTEGER NOT NULL",
        "identity_strength INTEGER NOT NULL",
        "created_at TEXT NOT NULL",
        "updated_at TEXT NOT NULL",
    ],
    "semantic_memory": [
        "id TEXT PRIMARY KEY",
        "type TEXT NOT NULL",
        "content TEXT NOT NULL",
        "embedding BLOB",
        "importance REAL NOT NULL",
        "decay REAL NOT NULL",
        "timestamp TEXT NOT NULL",
        "metadata TEXT",
    ],
    "evolution_snapshots": [
        "id TEXT PRIMARY KEY",
        "conversation_id TEXT NOT NULL",
        "stance TEXT NOT NULL",
        "trigger TEXT NOT NULL",
        "drift_at_snapshot INTEGER NOT NULL",
        "timestamp TEXT NOT NULL",
    ],
    # No foreign key: store.ts declares none, and the normal snapshot (a conversation id
    # with no conversations row, schema file 1.1) would fail if we added one.
    "sessions": [
        "id TEXT PRIMARY KEY",
        "name TEXT",
        "conversation_id TEXT",
        "last_accessed TEXT NOT NULL",
        "created_at TEXT NOT NULL",
        "message_count INTEGER DEFAULT 0",
        "current_frame TEXT",
        "current_drift INTEGER DEFAULT 0",
        "FOREIGN KEY (conversation_id) REFERENCES conversations(id)",
    ],
    "operator_performance": [
        "id TEXT PRIMARY KEY",
        "operator_name TEXT NOT NULL",
        "trigger_type TEXT NOT NULL",
        "effectiveness_score REAL NOT NULL",
        "transformation_score INTEGER NOT NULL",
        "coherence_score INTEGER NOT NULL",
        "drift_cost INTEGER NOT NULL",
        "timestamp TEXT NOT NULL",
    ],
    "subagent_results": [
        "id TEXT PRIMARY KEY",
        "subagent_name TEXT NOT NULL",
        "task TEXT NOT NULL",
        "response TEXT NOT NULL",
        "key_findings TEXT",
        "relevance REAL NOT NULL",
        "conversation_id TEXT",
        "timestamp TEXT NOT NULL",
        "expiry TEXT",
    ],
    "emotional_arcs": [
        "id TEXT PRIMARY KEY",
        "conversation_id TEXT NOT NULL UNIQUE",
        "emotions TEXT NOT NULL",
        "insights TEXT NOT NULL",
        "patterns TEXT NOT NULL",
        "trend TEXT",
        "updated_at TEXT NOT NULL",
    ],
    "emotion_context": [
        "id TEXT PRIMARY KEY",
        "session_id TEXT NOT NULL",
        "current_emotion TEXT NOT NULL",
        "valence REAL NOT NULL",
        "arousal REAL NOT NULL",
        "confidence REAL NOT NULL",
        "stability REAL",
        "prompt_context TEXT",
        "suggested_empathy_boost REAL",
        "timestamp TEXT NOT NULL",
        "FOREIGN KEY (session_id) REFERENCES sessions(id)",
    ],
    "session_states": [
        "id TEXT PRIMARY KEY",
        "name TEXT",
        "created_at TEXT NOT NULL",
        "last_activity TEXT NOT NULL",
        "stance TEXT NOT NULL",
        "config TEXT NOT NULL",
        "message_count INTEGER DEFAULT 0",
        "metadata TEXT",
    ],
}
# The optional tables: id plus the link columns the 001 indexes name.
_OPTIONAL_COLUMNS = {
    t: ["id TEXT PRIMARY KEY", "data TEXT", "created_at TEXT"] for t in OPTIONAL_TABLES
}
_OPTIONAL_COLUMNS["steering_messages"] = [
    "id TEXT PRIMARY KEY",
    "session_id TEXT",
    "content TEXT",
    "created_at TEXT",
]


@dataclass(frozen=True)
class IndexDef:
    """An index Metamorph creates: name, table, key columns (with DESC where it says so)."""

    name: str
    table: str
    columns: tuple
    unique: bool = False
    desc: tuple = ()

    def key(self):
        return tuple((c, c in self.desc) for c in self.columns)


LEGACY_INDEXES = (
    IndexDef("idx_messages_conversation", "messages", ("conversation_id",)),
    IndexDef("idx_semantic_type", "semantic_memory", ("type",)),
    IndexDef("idx_evolution_conversation", "evolution_snapshots", ("conversation_id",)),
    IndexDef("idx_sessions_accessed", "sessions", ("last_accessed",), desc=("last_accessed",)),
    IndexDef("idx_operator_performance", "operator_performance", ("operator_name", "trigger_type")),
    IndexDef(
        "idx_subagent_results",
        "subagent_results",
        ("subagent_name", "relevance"),
        desc=("relevance",),
    ),
    IndexDef("idx_emotional_arcs_conversation", "emotional_arcs", ("conversation_id",)),
    IndexDef(
        "idx_emotion_context_session",
        "emotion_context",
        ("session_id", "timestamp"),
        desc=("timestamp",),
    ),
    IndexDef(
        "idx_session_states_last_activity",
        "session_states",
        ("last_activity",),
        desc=("last_activity",),
    ),
)

_SECOND_KEYS = {
    "sessions": ("accessed", "last_accessed"),
    "session_states": ("activity", "last_activity"),
    "conversations": ("updated", "updated_at"),
    "messages": ("conversation", "conversation_id"),
    "semantic_memory": ("type", "type"),
    "evolution_snapshots": ("conv", "conversation_id"),
    "operator_performance": ("op", "operator_name"),
    "subagent_results": ("agent", "subagent_name"),
    "emotional_arcs": ("conv", "conversation_id"),
    "emotion_context": ("session", "session_id"),
    "steering_messages": ("session", "session_id"),
}
# 001's order of index creation (the order of the migration file).
_MIGRATION_001_INDEX_TABLES = (
    "sessions",
    "session_states",
    "conversations",
    "messages",
    "semantic_memory",
    "identity",
    "evolution_snapshots",
    "operator_performance",
    "subagent_results",
    "emotional_arcs",
    "emotion_context",
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


def _migration_001_indexes():
    out = []
    for table in _MIGRATION_001_INDEX_TABLES:
        out.append(IndexDef(f"idx_{table}_vault_id", table, ("vault_id", "id")))
        if table in _SECOND_KEYS:
            suffix, col = _SECOND_KEYS[table]
            out.append(IndexDef(f"idx_{table}_vault_{suffix}", table, ("vault_id", col)))
    return tuple(out)


MIGRATION_001_INDEXES = _migration_001_indexes()

MIGRATION_002_TABLES = {
    "vercel_connections": [
        "id TEXT PRIMARY KEY",
        "vault_id TEXT NOT NULL",
        "vercel_user_id TEXT NOT NULL",
        "vercel_team_id TEXT",
        "access_token TEXT NOT NULL",
        "refresh_token TEXT",
        "token_expires_at TEXT",
        "scopes TEXT NOT NULL",
        "connection_status TEXT NOT NULL DEFAULT 'active'",
        "created_at TEXT NOT NULL",
        "updated_at TEXT NOT NULL",
        "UNIQUE(vault_id, vercel_user_id)",
    ],
    "sandboxes": [
        "id TEXT PRIMARY KEY",
        "vault_id TEXT NOT NULL",
        "vercel_connection_id TEXT",
        "sandbox_vercel_id TEXT",
        "name TEXT NOT NULL",
        "status TEXT NOT NULL DEFAULT 'pending'",
        "runtime TEXT NOT NULL DEFAULT 'node22'",
        "vcpus INTEGER NOT NULL DEFAULT 2",
        "memory_mb INTEGER NOT NULL DEFAULT 2048",
        "timeout_minutes INTEGER NOT NULL DEFAULT 30",
        "environment TEXT",
        "working_directory TEXT DEFAULT '/vercel/sandbox'",
        "agent_session_id TEXT",
        "agent_config TEXT",
        "created_at TEXT NOT NULL",
        "started_at TEXT",
        "stopped_at TEXT",
        "last_activity_at TEXT",
        "total_runtime_seconds INTEGER DEFAULT 0",
        "error_message TEXT",
        "FOREIGN KEY (vercel_connection_id) REFERENCES vercel_connections(id)",
    ],
    "sandbox_resource_usage": [
        "id TEXT PRIMARY KEY",
        "vault_id TEXT NOT NULL",
        "period_start TEXT NOT NULL",
        "period_end TEXT NOT NULL",
        "sandbox_count INTEGER DEFAULT 0",
        "total_runtime_seconds INTEGER DEFAULT 0",
        "total_executions INTEGER DEFAULT 0",
        "sandbox_limit INTEGER DEFAULT 5",
        "runtime_limit_hours INTEGER DEFAULT 100",
        "limit_exceeded BOOLEAN DEFAULT FALSE",
        "created_at TEXT NOT NULL",
        "updated_at TEXT NOT NULL",
    ],
}
MIGRATION_002_INDEXES = (
    IndexDef("idx_vercel_connections_vault_id", "vercel_connections", ("vault_id",)),
    IndexDef(
        "idx_vercel_connections_status", "vercel_connections", ("vault_id", "connection_status")
    ),
    IndexDef("idx_vercel_connections_vercel_user", "vercel_connections", ("vercel_user_id",)),
    IndexDef("idx_sandboxes_vault_id", "sandboxes", ("vault_id",)),
    IndexDef("idx_sandboxes_status", "sandboxes", ("vault_id", "status")),
    IndexDef("idx_sandboxes_connection", "sandboxes", ("vercel_connection_id",)),
    IndexDef("idx_sandboxes_vercel_id", "sandboxes", ("sandbox_vercel_id",)),
    IndexDef("idx_sandboxes_created", "sandboxes", ("vault_id", "created_at")),
    IndexDef("idx_sandboxes_agent", "sandboxes", ("agent_session_id",)),
    IndexDef("idx_sandbox_resource_usage_vault_id", "sandbox_resource_usage", ("vault_id",)),
    IndexDef(
        "idx_sandbox_resource_usage_period", "sandbox_resource_usage", ("vault_id", "period_start")
    ),
    IndexDef(
        "idx_sandbox_resource_usage_vault_period",
        "sandbox_resource_usage",
        ("vault_id", "period_start"),
        unique=True,
    ),
)
# Indexes other Metamorph code paths create (auto-upgrade, fresh multitenancy install):
# expected nowhere, but known, so index health names where they come from.
AUTOUPGRADE_INDEXES = tuple(IndexDef(f"idx_{t}_vault", t, ("vault_id",)) for t in STORE_TABLES)
FRESH_EXTRA_INDEXES = (
    IndexDef("idx_messages_vault", "messages", ("vault_id",)),
    IndexDef("idx_semantic_memory_vault", "semantic_memory", ("vault_id",)),
    IndexDef("idx_sessions_vault", "sessions", ("vault_id",)),
)
FRESH_SESSION_STATES_ACTIVITY = IndexDef(
    "idx_session_states_vault_activity",
    "session_states",
    ("vault_id", "last_activity"),
    desc=("last_activity",),
)

EXPECTED_INDEXES = LEGACY_INDEXES + MIGRATION_001_INDEXES + MIGRATION_002_INDEXES
KNOWN_EXTRA_INDEXES = {i.name: i for i in AUTOUPGRADE_INDEXES + FRESH_EXTRA_INDEXES}

MIGRATION_IDS = ("001_add_vault_id", "002_add_vercel_sandbox_tables")
# What Metamorph's tsc build writes in schema_migrations.checksum: a 32-bit string hash of
# the compiled up + down function text (schema file 4), so another build (tsx, a later
# release, metamorph-admin before issue 9) writes other values. Metamorph never reads it.
METAMORPH_CHECKSUMS = {"001_add_vault_id": "6b21027c", "002_add_vercel_sandbox_tables": "4f41dc34"}
SAME_BUILD = "same as Metamorph's build"
OTHER_BUILD = "applied by another build"


def checksum_note(migration_id, checksum):
    """How a recorded checksum compares with Metamorph's build: information, never an error."""
    expected = METAMORPH_CHECKSUMS.get(migration_id)
    if expected is None or not checksum:
        return ""
    return SAME_BUILD if checksum == expected else OTHER_BUILD


SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, "
    "applied_at TEXT NOT NULL, checksum TEXT NOT NULL)"
)


def expected_columns(table):
    """Column names Metamorph's code gives `table` (vault_id aside); [] for optional tables."""
    defs = _LEGACY_COLUMNS.get(table) or MIGRATION_002_TABLES.get(table) or []
    return [d.split()[0] for d in defs if not d.startswith(("FOREIGN", "UNIQUE"))]


def quote(identifier):
    """Quote an SQL identifier taken from the known lists or sqlite_master."""
    return '"' + identifier.replace('"', '""') + '"'


def legacy_table_ddl(table):
    """CREATE TABLE text as store.ts / sqlite-adapter.ts write it (no vault_id)."""
    cols = _LEGACY_COLUMNS.get(table) or _OPTIONAL_COLUMNS[table]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n)"


def fresh_table_ddl(table):
    """CREATE TABLE text of a fresh multitenancy install: vault_id is the second column."""
    cols = list(_LEGACY_COLUMNS[table])
    if table == "emotional_arcs":
        cols[1] = "conversation_id TEXT NOT NULL"
        cols.append("UNIQUE(vault_id, conversation_id)")
    cols.insert(1, VAULT_COLUMN_DDL)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n)"


def sandbox_table_ddl(table):
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n  "
        + ",\n  ".join(MIGRATION_002_TABLES[table])
        + "\n)"
    )


def index_ddl(index, quoted=False, if_not_exists=True):
    """CREATE INDEX text; 001 writes its names and columns quoted."""
    cols = []
    for c in index.columns:
        name = quote(c) if quoted else c
        cols.append(f"{name} DESC" if c in index.desc else name)
    kind = "UNIQUE INDEX" if index.unique else "INDEX"
    guard = "IF NOT EXISTS " if if_not_exists else ""
    name = quote(index.name) if quoted else index.name
    table = quote(index.table) if quoted else index.table
    return f"CREATE {kind} {guard}{name} ON {table}({', '.join(cols)})"


_SANDBOX_SECOND_KEYS = {
    "vercel_connections": "connection_status",
    "sandboxes": "status",
    "sandbox_resource_usage": "period_start",
}


def canonical_query(table):
    """(sql, params, columns it names): `WHERE vault_id = ?` plus the table's second key."""
    second = _SECOND_KEYS.get(table, (None, _SANDBOX_SECOND_KEYS.get(table)))[1]
    sql = f"SELECT * FROM {quote(table)} WHERE {quote(VAULT_COLUMN)} = ?"
    params, columns = [DEFAULT_VAULT], [VAULT_COLUMN]
    if second:
        sql += f" AND {quote(second)} = ?"
        params.append("x")
        columns.append(second)
    return sql, params, columns
