"""Build Metamorph databases with the real schema and realistic, linked rows.

Used by `makedemodb`, by every test fixture and by `make bench`, so what we test and
measure is the schema Metamorph really creates, in each state a real file can be in.
"""

import json
import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta

from . import schema
from .errors import MetamorphError
from .migrate import definitions

STATES = ("legacy", "autoupgraded", "fresh", "migrated")
# observed: what a real deployment's file holds (schema file 1.1): conversations, messages,
# identity, subagent_results and emotion_context empty; sessions.id = the conversation id
# with conversation_id NULL; snapshots, arcs and agent memories carry that id.
# linked: every table filled, links through rows (conversations -> messages, sessions ->
# conversation), the tidy shape other writers (imports, tests) produce.
SHAPES = ("observed", "linked")
_WORDS = [
    "stance",
    "drift",
    "frame",
    "identity",
    "memory",
    "emotion",
    "vault",
    "session",
    "insight",
    "pattern",
    "coherence",
    "operator",
    "subagent",
    "context",
    "embedding",
    "awareness",
    "autonomy",
    "value",
    "goal",
    "reflect",
    "evolve",
    "conversation",
    "metamorph",
    "agent",
    "user",
    "prompt",
    "response",
    "empathy",
    "arousal",
    "valence",
    "trend",
]
_EMOTIONS = ("curious", "calm", "joyful", "anxious", "focused", "playful", "melancholy")
_OPERATORS = ("reframe", "amplify", "ground", "mirror", "challenge", "synthesize")
_SUBAGENTS = ("researcher", "critic", "planner", "archivist")
_MEMORY_TYPES = ("episodic", "semantic", "procedural", "insight")


class DemoSpecError(MetamorphError):
    pass


class _Gen:
    """Seeded generator of ids, timestamps and text; one per build so builds repeat."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        corpus = " ".join(self.r.choice(_WORDS) for _ in range(4000))
        self.corpus = corpus
        self.t0 = datetime(2025, 3, 1, tzinfo=UTC)

    def uid(self):
        h = f"{self.r.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def ts(self, base_minutes=0):
        t = self.t0 + timedelta(minutes=base_minutes + self.r.random() * 600)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def text(self, lo, hi):
        n = self.r.randint(lo, hi)
        start = self.r.randint(0, len(self.corpus) - hi - 1)
        return self.corpus[start : start + n]


def vault_names(k):
    """K vault ids: legacy data in default-vault plus user vaults."""
    return [schema.DEFAULT_VAULT] + [f"user-{i:04d}" for i in range(1, k)]


def _pick_vault(gen, vaults):
    # A Zipf-like spread: a few large vaults, a long tail, as real tenants look.
    i = min(int(len(vaults) * gen.r.random() ** 2.2), len(vaults) - 1)
    return vaults[i]


def _unit_rows(gen, unit, vault, with_session_states, optional):
    """All rows one agent session creates: conversation, its messages, arcs, memories…"""
    minute = unit * 3
    conv, sess = gen.uid(), gen.uid()
    created = gen.ts(minute)
    rows: dict[str, list[tuple]] = {t: [] for t in schema.VAULT_TABLES}
    stance = json.dumps({"frame": gen.r.choice(_WORDS), "drift": gen.r.randint(0, 100)})
    rows["conversations"].append((conv, stance, '{"model":"claude"}', created, gen.ts(minute + 9)))
    n_msg = gen.r.randint(8, 52)
    for m in range(n_msg):
        rows["messages"].append(
            (
                gen.uid(),
                conv,
                "user" if m % 2 == 0 else "assistant",
                gen.text(60, 520),
                None if m % 3 else stance,
                None if m % 4 else '["memory_search"]',
                gen.ts(minute + m),
            )
        )
    linked = conv if gen.r.random() > 0.1 else None  # real sessions often keep NULL here
    rows["sessions"].append(
        (
            sess,
            f"session {unit}",
            linked,
            gen.ts(minute + 20),
            created,
            n_msg,
            gen.r.choice(_WORDS),
            gen.r.randint(0, 100),
        )
    )
    for _ in range(gen.r.randint(0, 3)):
        rows["evolution_snapshots"].append(
            (
                gen.uid(),
                conv,
                stance,
                gen.r.choice(_OPERATORS),
                gen.r.randint(0, 100),
                gen.ts(minute),
            )
        )
    # One arc per conversation; a few name a conversation that does not exist.
    arc_conv = conv if gen.r.random() > 0.01 else gen.uid()
    rows["emotional_arcs"].append(
        (
            gen.uid(),
            arc_conv,
            '["calm","curious"]',
            '["grew"]',
            '["rising"]',
            gen.r.choice(("up", "down", None)),
            gen.ts(minute),
        )
    )
    for _ in range(gen.r.randint(0, 4)):
        rows["emotion_context"].append(
            (
                gen.uid(),
                sess,
                gen.r.choice(_EMOTIONS),
                gen.r.uniform(-1, 1),
                gen.r.random(),
                gen.r.random(),
                gen.r.random(),
                gen.text(20, 80),
                gen.r.random(),
                gen.ts(minute),
            )
        )
    for _ in range(gen.r.randint(4, 12)):
        meta = {"source": "agent"}
        if gen.r.random() < 0.5:
            meta["conversationId"] = conv
        rows["semantic_memory"].append(
            (
                gen.uid(),
                gen.r.choice(_MEMORY_TYPES),
                gen.text(40, 300),
                gen.r.randbytes(1536),
                gen.r.random(),
                gen.r.random(),
                gen.ts(minute),
                json.dumps(meta),
            )
        )
    for _ in range(gen.r.randint(0, 2)):
        rows["subagent_results"].append(
            (
                gen.uid(),
                gen.r.choice(_SUBAGENTS),
                gen.text(20, 80),
                gen.text(100, 400),
                '["finding"]',
                gen.r.random(),
                conv,
                gen.ts(minute),
                None,
            )
        )
    for _ in range(gen.r.randint(0, 3)):
        rows["operator_performance"].append(
            (
                gen.uid(),
                gen.r.choice(_OPERATORS),
                gen.r.choice(("drift", "user", "auto")),
                gen.r.random(),
                gen.r.randint(0, 10),
                gen.r.randint(0, 10),
                gen.r.randint(0, 10),
                gen.ts(minute),
            )
        )
    if with_session_states:
        rows["session_states"].append(
            (sess, f"session {unit}", created, gen.ts(minute + 20), stance, "{}", n_msg, None)
        )
    if optional:
        for t in schema.OPTIONAL_TABLES:
            if t == "steering_messages":
                rows[t].append((gen.uid(), sess, gen.text(20, 80), created))
            elif gen.r.random() < 0.3:
                rows[t].append((gen.uid(), gen.text(20, 80), created))
    return {t: [r + (vault,) for r in v] if vault else v for t, v in rows.items() if v}


def _observed_rows(gen, unit, vault, with_session_states):
    """One conversation as Metamorph's CLI leaves it: the conversation id is the session id."""
    minute = unit * 3
    conv = gen.uid()
    created = gen.ts(minute)
    rows: dict[str, list[tuple]] = {t: [] for t in schema.VAULT_TABLES}
    stance = json.dumps({"frame": gen.r.choice(_WORDS), "drift": gen.r.randint(0, 100)})
    n_msg = gen.r.randint(8, 52)
    # `/sessions save` is optional: some conversations have no sessions row at all.
    if gen.r.random() < 0.9:
        rows["sessions"].append(
            (
                conv,
                f"session {unit}",
                None,
                gen.ts(minute + 20),
                created,
                n_msg,
                gen.r.choice(_WORDS),
                gen.r.randint(0, 100),
            )
        )
    for _ in range(gen.r.randint(0, 4)):
        rows["evolution_snapshots"].append(
            (
                gen.uid(),
                conv,
                stance,
                gen.r.choice(_OPERATORS),
                gen.r.randint(0, 100),
                gen.ts(minute),
            )
        )
    if gen.r.random() < 0.7:  # saveEmotionalArc writes id = conversation_id
        rows["emotional_arcs"].append(
            (
                conv,
                conv,
                '["calm","curious"]',
                '["grew"]',
                '["rising"]',
                gen.r.choice(("up", "down", None)),
                gen.ts(minute),
            )
        )
    for _ in range(gen.r.randint(3, 9)):
        agent = gen.r.random() < 0.3  # agent.storeMemory adds conversationId; hooks do not
        meta = (
            {"source": "agent", "conversationId": conv}
            if agent
            else {"source": "hook", "type": gen.r.choice(_MEMORY_TYPES)}
        )
        rows["semantic_memory"].append(
            (
                gen.uid(),
                gen.r.choice(_MEMORY_TYPES),
                gen.text(40, 300),
                gen.r.randbytes(1536),
                gen.r.random(),
                gen.r.random(),
                gen.ts(minute),
                json.dumps(meta),
            )
        )
    for _ in range(gen.r.randint(0, 3)):
        rows["operator_performance"].append(
            (
                gen.uid(),
                gen.r.choice(_OPERATORS),
                gen.r.choice(("drift", "user", "auto")),
                gen.r.random(),
                gen.r.randint(0, 10),
                gen.r.randint(0, 10),
                gen.r.randint(0, 10),
                gen.ts(minute),
            )
        )
    if with_session_states and unit % 50 == 0:
        # SessionManager ids ('default', UUIDs), not the store's session ids.
        sid = "default" if unit == 0 else gen.uid()
        rows["session_states"].append(
            (sid, None, created, gen.ts(minute + 20), stance, "{}", n_msg, None)
        )
    return {t: [r + (vault,) for r in v] if vault else v for t, v in rows.items() if v}


def _sandbox_rows(gen, vaults):
    rows: dict[str, list[tuple]] = {t: [] for t in schema.SANDBOX_TABLES}
    for v in vaults[1:][: max(1, len(vaults) // 4)]:
        conn_id, now = gen.uid(), gen.ts()
        rows["vercel_connections"].append(
            (
                conn_id,
                f"vu_{gen.uid()[:8]}",
                None,
                f"tok_{gen.uid()}",
                f"ref_{gen.uid()}",
                now,
                "read write",
                "active",
                now,
                now,
                v,
            )
        )
        for _ in range(gen.r.randint(1, 3)):
            rows["sandboxes"].append(
                (
                    gen.uid(),
                    conn_id,
                    f"sbx_{gen.uid()[:8]}",
                    "sandbox",
                    "running",
                    "node22",
                    2,
                    2048,
                    30,
                    None,
                    "/vercel/sandbox",
                    None,
                    None,
                    now,
                    now,
                    None,
                    now,
                    60,
                    None,
                    v,
                )
            )
        rows["sandbox_resource_usage"].append(
            (gen.uid(), "2026-11-01", "2026-11-30", 2, 120, 9, 5, 100, 0, now, now, v)
        )
    return rows


def _create_schema(conn, state, with_session_states, optional):
    tables = list(schema.STORE_TABLES) + ([schema.SESSION_STATES] if with_session_states else [])
    tables += list(schema.OPTIONAL_TABLES) if optional else []
    for t in tables:
        fresh = state == "fresh" and t in schema.LEGACY_TABLES
        conn.execute(schema.fresh_table_ddl(t) if fresh else schema.legacy_table_ddl(t))
    if state == "migrated":
        conn.execute(schema.SCHEMA_MIGRATIONS_DDL)
        for m in definitions.MIGRATIONS:
            definitions.apply_in_transaction(conn, m)


def _create_indexes(conn, state, tables):
    for ix in schema.LEGACY_INDEXES:
        if ix.table in tables:
            conn.execute(schema.index_ddl(ix))
    if state == "autoupgraded":
        for t in schema.STORE_TABLES:
            conn.execute(f"ALTER TABLE {t} ADD COLUMN {schema.VAULT_COLUMN_DDL}")
            conn.execute(schema.index_ddl(schema.KNOWN_EXTRA_INDEXES[f"idx_{t}_vault"]))
    if state == "fresh":
        for ix in schema.FRESH_EXTRA_INDEXES:
            conn.execute(schema.index_ddl(ix))
        if schema.SESSION_STATES in tables:
            conn.execute(schema.index_ddl(schema.FRESH_SESSION_STATES_ACTIVITY))


def _insert(conn, table, rows):
    if not rows:
        return
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    # Rows carry their vault last; a fresh table has it second, a legacy table not at all.
    if schema.VAULT_COLUMN in cols:
        cols = [c for c in cols if c != schema.VAULT_COLUMN] + [schema.VAULT_COLUMN]
    elif len(rows[0]) == len(cols) + 1:
        rows = [r[:-1] for r in rows]
    n = len(rows[0])
    names = ", ".join(schema.quote(c) for c in cols[:n])
    conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * n)})", rows)


def build_demo_database(
    path,
    sessions=200,
    vaults=5,
    state="legacy",
    optional_tables=False,
    session_states=True,
    seed=1,
    progress=None,
    shape="linked",
):
    """Create a Metamorph database at `path` (which must not exist) and return row totals.

    `shape` is "observed" (a real deployment's rows) or "linked" (every table filled)."""
    if state not in STATES:
        raise DemoSpecError(f"Unknown state {state!r}: choose one of {', '.join(STATES)}.")
    if shape not in SHAPES:
        raise DemoSpecError(f"Unknown shape {shape!r}: choose one of {', '.join(SHAPES)}.")
    if sessions < 1 or vaults < 1:
        raise DemoSpecError("--sessions and --vaults must be at least 1.")
    if os.path.exists(path):
        raise DemoSpecError(
            f"{path} already exists: makedemodb never overwrites a file. "
            "Choose a new path or delete the old demo database first."
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    gen = _Gen(seed)
    tmp = f"{path}.building"
    if os.path.exists(tmp):
        os.unlink(tmp)  # left by a build that was killed
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        # A scratch file we own until the rename: no journal, big cache, all in one go.
        conn.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000; BEGIN"
        )
        _create_schema(conn, state, session_states, optional_tables)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        vault_list = vault_names(vaults) if state in ("fresh", "migrated") else []
        if state == "fresh":
            vault_list = ["dev-vault"] + vault_list[1:]
        with_vault = state in ("fresh", "migrated")
        totals: dict[str, int] = {}
        batch: dict[str, list[tuple]] = {}
        for unit in range(sessions):
            vault = _pick_vault(gen, vault_list) if with_vault else None
            unit_rows = (
                _observed_rows(gen, unit, vault, session_states)
                if shape == "observed"
                else _unit_rows(gen, unit, vault, session_states, optional_tables)
            )
            for t, rows in unit_rows.items():
                batch.setdefault(t, []).extend(rows)
            if unit % 2000 == 1999 or unit == sessions - 1:
                for t, rows in batch.items():
                    _insert(conn, t, rows)
                    totals[t] = totals.get(t, 0) + len(rows)
                batch = {}
                if progress:
                    progress("rows", unit + 1, sessions, f"{unit + 1} of {sessions} sessions")
        # saveIdentity has no caller: a real file has no identity row.
        for v in (vault_list[1:] if with_vault else [None]) if shape == "linked" else []:
            row = (
                gen.uid(),
                '{"self":"evolving"}',
                '["honesty"]',
                '["learn"]',
                '["aware"]',
                5,
                5,
                7,
                gen.ts(),
                gen.ts(),
            )
            _insert(conn, "identity", [row + (v,) if v else row])
            totals["identity"] = totals.get("identity", 0) + 1
        if state == "migrated":
            for t, rows in _sandbox_rows(gen, vault_list).items():
                _insert(conn, t, rows)
                totals[t] = len(rows)
        if progress:
            progress("indexes", 0, 1, "building indexes")
        _create_indexes(conn, state, tables)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")
    except BaseException:
        conn.close()
        os.unlink(tmp)
        raise
    conn.close()
    os.replace(tmp, path)
    return totals
