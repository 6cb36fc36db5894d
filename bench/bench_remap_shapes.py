"""`make bench` for issue 9: a split by a *session* mapping on both data shapes at ~1 GB.

observed — what a real deployment holds (makedemodb --shape observed): conversations and
           messages empty, sessions.id = the conversation id, snapshots, arcs and agent
           memories carry it; ~85,000 conversations ≈ 1 GB;
linked   — every table filled, sessions -> conversation -> messages (the issue 5 database).
Each file is copied, every user row reset to default-vault (a legacy file just migrated),
and a mapping of every session id back to the vault the builder gave it is previewed and
executed. Raw = one transaction of plain UPDATEs of the same rows to the same vaults.
Target: ours <= 1.5x raw. Also timed: the preview, and the isolation audit afterwards.
"""

import os
import shutil
import sqlite3
import tempfile
import time

from bench.common import bench_database
from metamorph import schema
from metamorph.connection import open_readonly
from metamorph.remap import isolation_audit
from metamorph.remap.execute import DURABILITY, execute_plan, vault_indexes
from metamorph.remap.plan import build_plan
from metamorph.remap.resolve import resolve
from metamorph.remap.rules import SplitByMapping

TARGET_RATIO = 1.5
OBSERVED_SESSIONS = int(os.environ.get("BENCH_OBSERVED_SESSIONS", 85_000))


def run(
    linked_path,
    sessions_observed=OBSERVED_SESSIONS,
    modes=(("online", "full"), ("online", "fast"), ("offline", "full")),
):
    """Print ours vs raw for both shapes; returns the figures."""
    observed = bench_database("migrated", sessions_observed, shape="observed", session_states=False)
    figures = {}
    for shape, path in (("observed", observed), ("linked", linked_path)):
        figures[shape] = _shape(shape, path, modes)
    return figures


def _shape(shape, path, modes):
    work = tempfile.mkdtemp(prefix="remap-shape-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        base, owners = _legacy_copy(path, work)
        size = os.path.getsize(base) / 1e9
        csv = "session_id,vault_id\n" + "".join(f"{s},{v}\n" for s, v in owners.items())
        rule = SplitByMapping.from_csv(csv.encode())
        print(
            f"\n== Issue 9 — split by a session mapping, {shape} shape ({size:.2f} GB, "
            f"{len(owners):,} sessions to {len(set(owners.values()))} vaults)"
        )
        preview_copy = _copy(base, work, "preview")
        started = time.perf_counter()
        plan = build_plan(preview_copy, rule)
        out = {"preview_s": time.perf_counter() - started, "rows": plan.moves_total}
        moved = ", ".join(
            f"{t} {r['move']:,}" for t, r in plan.preview["tables"].items() if r["move"]
        )
        print(f"  {plan.moves_total:,} rows move ({moved}); preview {out['preview_s']:.1f} s")
        out["raw_s"] = _raw(preview_copy, rule, _copy(base, work, "raw"))
        os.unlink(preview_copy)
        for mode, durability in modes:
            target = _copy(base, work, f"{mode}-{durability}")
            journal = os.path.join(work, f"journal-{mode}-{durability}.sqlite3")
            result = execute_plan(target, plan, journal, mode=mode, durability=durability)
            assert result["moved_total"] == plan.moves_total, result
            ratio = result["elapsed_s"] / out["raw_s"]
            verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
            print(
                f"    {mode:<7} synchronous={DURABILITY[durability]:<4} ours "
                f"{result['elapsed_s']:6.2f} s  raw {out['raw_s']:6.2f} s  ratio {ratio:4.2f} "
                f"(<= {TARGET_RATIO}: {verdict}); longest transaction "
                f"{result['longest_transaction_s']:.2f} s; check {result['check_s']:.1f} s"
            )
            out[f"{mode}-{durability}"] = {"seconds": result["elapsed_s"], "ratio": ratio}
            if mode == "offline":
                started = time.perf_counter()
                audit = isolation_audit(target, journal)
                out["audit_s"] = time.perf_counter() - started
                print(
                    f"  isolation audit afterwards: {'clean' if audit['clean'] else 'FINDINGS'}"
                    f" in {out['audit_s']:.1f} s"
                )
            for p in (target, journal):
                os.unlink(p)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy(src, work, name):
    dst = os.path.join(work, f"{name}.db")
    shutil.copyfile(src, dst)
    return dst


def _legacy_copy(path, work):
    """A copy with every user-scoped row in default-vault, and each session's vault."""
    base = _copy(path, work, "legacy")
    conn = sqlite3.connect(base, isolation_level=None)
    try:
        owners = {
            s: v
            for s, v in conn.execute("SELECT id, vault_id FROM sessions")
            if v != schema.DEFAULT_VAULT
        }
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        tables = [t for t in schema.USER_SCOPED_TABLES if t in names]
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("BEGIN IMMEDIATE")
        indexes = vault_indexes(conn, tables)
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {schema.quote(name)}")
        for t in tables:
            conn.execute(f"UPDATE {schema.quote(t)} SET vault_id = ?", (schema.DEFAULT_VAULT,))
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return base, owners


def _raw(preview_copy, rule, target):
    """One transaction of plain UPDATEs moving the plan's rows to the plan's targets."""
    ro = open_readonly(preview_copy)
    try:
        res = resolve(ro, rule)
    finally:
        ro.close()
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        for table, w in res.work.items():
            m = schema.quote("m_" + table)
            conn.execute(f"CREATE TEMP TABLE {m} (rid INTEGER PRIMARY KEY, v TEXT)")
            conn.executemany(
                f"INSERT INTO temp.{m} VALUES (?, ?)",
                ((r, res.vaults[t]) for r, t in zip(w.rowids, w.targets)),
            )
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, w in res.work.items():
            if len(w.rowids):
                q, m = schema.quote(table), schema.quote("m_" + table)
                conn.execute(
                    f"UPDATE {q} SET vault_id = t.v FROM temp.{m} AS t WHERE {q}.rowid = t.rid"
                )
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()
        os.unlink(target)
