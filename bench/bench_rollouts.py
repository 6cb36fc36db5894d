"""Issue 11: the rollout evidence read from a big file, against the same SQL through sqlite3."""

import sqlite3

from bench.bench_vaults import raw_group_by
from bench.common import best_of, line, section
from metamorph import remap, rollout_evidence


def raw_ids(path, ids):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(ids))
        return dict(
            conn.execute(
                f"SELECT id, vault_id FROM semantic_memory WHERE id IN ({marks})", ids
            ).fetchall()
        )
    finally:
        conn.close()


def sample_ids(path, n=500):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT id FROM semantic_memory WHERE vault_id = (SELECT vault_id FROM semantic_memory "
                "GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1) LIMIT ?",
                (n,),
            )
        ]
    finally:
        conn.close()


def run(path):
    with section("Issue 11 — rollout evidence"):
        rollout_evidence.vault_distribution(path), raw_group_by(path)  # warm both
        raw_t, _ = best_of(3, lambda: raw_group_by(path))
        our_t, found = best_of(3, lambda: rollout_evidence.vault_distribution(path))
        print(
            f"  {found['total_rows']} rows, {found['distinct_vaults']} vaults, "
            f"{found['default_vault_rows']} in default-vault"
        )
        line("vault distribution (p3/p4/p5 items)", our_t, raw_t, 1.2)
        ids = sample_ids(path)
        raw_t, _ = best_of(5, lambda: raw_ids(path, ids))
        our_t, _ = best_of(5, lambda: rollout_evidence.vaults_of_ids(path, "memories", ids))
        line(f"live isolation: vaults of {len(ids)} API ids", our_t, raw_t, 1.5)
        took, found = best_of(3, lambda: rollout_evidence.index_evidence(path))
        print(
            f"  index health + EXPLAIN of {len(found['plans'])} vault queries: {took * 1000:.0f} ms"
        )
        took, audit = best_of(1, lambda: remap.isolation_audit(path, seconds=20.0))
        print(
            f"  isolation audit (bounded to 20 s): {took:.2f} s, complete={audit['complete']},"
            f" {len(audit['findings'])} findings"
        )
