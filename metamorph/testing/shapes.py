"""The data shapes of shared/metamorph-schema.md §1.1, applied to a file makedemodb built.

makedemodb now builds both shapes itself (`--shape observed|linked`, build_demo_database(shape=));
this converter stays for tests written before that (branch issue-8-remap uses it).

makedemodb builds the *tidy* shape (a conversations row per conversation, sessions pointing at
it). A real deployment's file has the *observed* shape: conversations and messages empty,
`sessions.id` = the agent's conversation id with `conversation_id` NULL, and snapshots, arcs,
subagent results and agent memories carrying that id without any conversations row.
"""

import sqlite3

SHAPES = ("tidy", "observed")


def make_observed(db_path):
    """Rewrite a tidy demo file in place into the observed shape (one transaction)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        # A session linked to a conversation takes that conversation's id as its own,
        # and its emotion context follows it (the only link into sessions).
        conn.execute(
            "CREATE TEMP TABLE session_ids AS SELECT id AS old, conversation_id AS new "
            "FROM sessions WHERE conversation_id IS NOT NULL "
            "AND conversation_id NOT IN (SELECT id FROM sessions)"
        )
        conn.execute(
            "UPDATE emotion_context SET session_id = (SELECT new FROM temp.session_ids "
            "WHERE old = session_id) WHERE session_id IN (SELECT old FROM "
            "temp.session_ids)"
        )
        conn.execute(
            "UPDATE sessions SET id = (SELECT new FROM temp.session_ids WHERE old = id) "
            "WHERE id IN (SELECT old FROM temp.session_ids)"
        )
        conn.execute("UPDATE sessions SET conversation_id = NULL")
        conn.execute("DELETE FROM messages")
        conn.execute("DELETE FROM conversations")
        conn.execute("COMMIT")
        conn.execute("DROP TABLE temp.session_ids")
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    if problems:
        raise RuntimeError(f"observed shape left broken foreign keys: {problems[:3]}")
    return db_path


def apply_shape(db_path, shape):
    """Leave a tidy file as it is, or make it observed."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: choose one of {', '.join(SHAPES)}")
    if shape == "observed":
        make_observed(db_path)
    return db_path
