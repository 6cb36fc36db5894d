"""Rollout evidence read from real files (tidy and real-shaped), beside a writing process."""

import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import sql
from metamorph import remap, rollout_evidence

WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
n, worst = 0, 0.0
print("writing", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    started = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    worst = max(worst, time.monotonic() - started)
    conn.execute("INSERT INTO semantic_memory (id, type, content, importance, decay, timestamp,"
                 " vault_id) VALUES (?, 'fact', 'x', 0.5, 0.1, '2026-01-01', 'writer-vault')",
                 (f"writer-{n}",))
    conn.execute("COMMIT")
    n += 1
    time.sleep(0.002)
print(n, worst, flush=True)
"""


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


def test_evidence_beside_a_writer_loses_no_commit_and_keeps_its_waits_short(migrated):
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, migrated, "3"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    started = time.monotonic()
    rounds = 0
    while time.monotonic() - started < 2.0:
        rollout_evidence.vault_distribution(migrated)
        rollout_evidence.index_evidence(migrated)
        remap.isolation_audit(migrated, seconds=5)
        rollout_evidence.vaults_of_ids(migrated, "memories", ["writer-1", "writer-2"])
        rounds += 1
    committed, worst = writer.stdout.readline().split()
    assert writer.wait(timeout=10) == 0
    assert rounds >= 2 and int(committed) > 50
    assert sql(migrated, "SELECT COUNT(*) FROM semantic_memory WHERE id LIKE 'writer-%'") == [
        (int(committed),)
    ]
    assert float(worst) < 0.5
