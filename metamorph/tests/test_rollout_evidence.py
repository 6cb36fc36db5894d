"""Rollout evidence read from real files (tidy and real-shaped), beside a writing process."""

import sqlite3

import pytest

from conftest import sql
from metamorph import remap, rollout_evidence


def real_shaped(path):
    """§1.1: conversations and messages empty; sessions.id is the conversation id."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "DELETE FROM messages; DELETE FROM conversations; "
        "UPDATE sessions SET conversation_id = NULL;"
    )
    conn.close()
    return path


@pytest.fixture(params=["tidy", "real"])
def migrated(request, metamorph_db):
    path = metamorph_db("migrated", sessions=80, vaults=5)
    return real_shaped(path) if request.param == "real" else path


def vault_tables(path):
    return [
        t
        for (t,) in sql(
            path,
            "SELECT m.name FROM sqlite_master m WHERE type='table' AND "
            "EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
            "WHERE name='vault_id')",
        )
    ]


def test_distribution_matches_the_file(migrated):
    found = rollout_evidence.vault_distribution(migrated)
    tables = vault_tables(migrated)
    assert found["default_vault_rows"] == sum(
        sql(migrated, f'SELECT COUNT(*) FROM "{t}" WHERE vault_id = ?', ("default-vault",))[0][0]
        for t in tables
    )
    union = " UNION ".join(f'SELECT vault_id FROM "{t}"' for t in tables)
    assert found["distinct_vaults"] == sql(migrated, f"SELECT COUNT(*) FROM ({union})")[0][0]


def test_vaults_of_ids_answers_only_ids_the_file_holds(migrated):
    ids = [r[0] for r in sql(migrated, "SELECT id FROM semantic_memory LIMIT 700")]
    found = rollout_evidence.vaults_of_ids(migrated, "memories", ids + ["not-there"])
    assert len(found) == len(ids) and "not-there" not in found
    assert (
        found[ids[0]]
        == sql(migrated, "SELECT vault_id FROM semantic_memory WHERE id=?", (ids[0],))[0][0]
    )
    sessions = [r[0] for r in sql(migrated, "SELECT id FROM session_states LIMIT 5")]
    assert set(rollout_evidence.vaults_of_ids(migrated, "sessions", sessions)) == set(sessions)


def test_index_evidence_names_a_dropped_index(migrated):
    assert rollout_evidence.index_evidence(migrated)["missing"] == []
    conn = sqlite3.connect(migrated)
    conn.execute("DROP INDEX idx_semantic_memory_vault_type")
    conn.close()
    assert rollout_evidence.index_evidence(migrated)["missing"] == [
        "idx_semantic_memory_vault_type"
    ]


def test_evidence_beside_a_writer_loses_no_commit_and_keeps_its_waits_short(
    migrated, metamorph_writer
):
    # The writer's progress is a precondition, not a count taken afterwards: each round of
    # evidence starts once the writer has committed again, so it reads beside a writer that
    # is really writing, however slow the machine.
    writer = metamorph_writer(migrated)
    for _ in range(2):
        writer.wait_for_commits(3)
        rollout_evidence.vault_distribution(migrated)
        rollout_evidence.index_evidence(migrated)
        remap.isolation_audit(migrated, seconds=5)
        rollout_evidence.vaults_of_ids(migrated, "memories", ["writer-1", "writer-2"])
    writer.wait_for_commits(3)  # and it goes on committing after the reads
    report = writer.stop()
    assert report.errors == [], report.describe()
    assert report.missing_from(migrated) == []
    # Metamorph's busy timeout is 5 s: a wait near it would be a lost write.
    assert report.max_wait < 2.0, report.describe()
