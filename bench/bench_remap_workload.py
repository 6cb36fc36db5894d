"""`make bench`: our remap against one raw UPDATE of the same rows.

`run(path)` never touches `path`: it copies it, resets every row to default-vault (a legacy
database just migrated), then times on fresh copies, in one process:
  raw   — one transaction of `UPDATE t SET vault_id = …` per table through plain sqlite3
          (default settings), the same rows to the same targets;
  ours  — execute_plan online (fingerprint check + journaled batches), and offline;
for a whole-vault move and for a split by a mapping file over ~1,000 vaults (each
conversation back to the vault the demo builder gave it). Target: ours <= 1.5x raw, longest
write transaction < 1 s. Figures vary 20-40 % between runs: compare ratios of one run.
"""

import os
import shutil
import sqlite3
import tempfile
import time

from metamorph import schema
from metamorph.connection import open_readonly
from metamorph.remap.execute import DURABILITY, execute_plan, vault_indexes
from metamorph.remap.plan import build_plan
from metamorph.remap.resolve import resolve
from metamorph.remap.rules import MoveVault, SplitByMapping

TARGET_RATIO = 1.5
MOVE_TARGET = "user-bench"


def run(path, durabilities=("full", "fast"), offline=True, batch_seconds=0.5):
    """Print ours vs raw for both cases and the longest transaction; returns the figures."""
    work = tempfile.mkdtemp(prefix="remap-bench-", dir=os.path.dirname(os.path.abspath(path)))
    figures = {}
    try:
        base, owners = legacy_copy(path, work)
        rows = _count(base)
        print(
            f"\n== legacy remap ({rows:,} rows in default-vault, "
            f"{len(set(owners.values()))} vaults in the mapping file)"
        )
        figures["move"] = _case(
            work,
            base,
            "whole-vault move",
            MoveVault(MOVE_TARGET),
            durabilities,
            offline,
            batch_seconds,
        )
        csv = "conversation_id,vault_id\n" + "".join(f"{c},{v}\n" for c, v in owners.items())
        rule = SplitByMapping.from_csv(csv.encode())
        figures["split"] = _case(
            work,
            base,
            f"split into {len(set(owners.values()))} vaults",
            rule,
            durabilities,
            offline,
            batch_seconds,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _case(work, base, title, rule, durabilities, offline, batch_seconds):
    out = {}
    copy = copy_db(base, work, "preview")
    started = time.perf_counter()
    plan = build_plan(copy, rule)
    out["preview_s"] = time.perf_counter() - started
    print(
        f"  {title}: {plan.moves_total:,} rows move; preview (read-only, not counted) "
        f"{out['preview_s']:.1f} s"
    )
    out["raw_s"] = raw_updates(copy, rule, copy_db(base, work, "raw"))
    os.unlink(copy)
    runs = [("online", d) for d in durabilities] + ([("offline", "full")] if offline else [])
    for mode, durability in runs:
        target = copy_db(base, work, f"{mode}-{durability}")
        journal = os.path.join(work, f"journal-{mode}-{durability}.sqlite3")
        result = execute_plan(
            target, plan, journal, mode=mode, durability=durability, batch_seconds=batch_seconds
        )
        assert result["moved_total"] == plan.moves_total, result
        ratio = result["elapsed_s"] / out["raw_s"]
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        lock = result["longest_transaction_s"]
        lock_verdict = ("meets" if lock < 1 else "MISSES") if mode == "online" else "downtime"
        print(
            f"    {mode:<7} synchronous={DURABILITY[durability]:<6} "
            f"ours {result['elapsed_s']:7.2f} s  raw {out['raw_s']:7.2f} s  ratio "
            f"{ratio:4.2f} (<= {TARGET_RATIO}: {verdict}); {result['batches']} "
            f"transactions, longest {lock:.3f} s (< 1 s: {lock_verdict}); "
            f"check {result['check_s']:.1f} s"
        )
        out[f"{mode}-{durability}"] = result
        for p in (target, journal):
            os.unlink(p)
    return out


def copy_db(src, work, name):
    dst = os.path.join(work, f"{name}.db")
    shutil.copyfile(src, dst)
    return dst


def legacy_copy(path, work, owners_from="conversations"):
    """A copy with every user-scoped row in default-vault, and the vault each row of
    `owners_from` (conversations, or sessions on a real-shaped file) was in: {id: vault}."""
    base = copy_db(path, work, "legacy")
    conn = sqlite3.connect(base, isolation_level=None)
    try:
        owners = {
            c: v
            for c, v in conn.execute(f"SELECT id, vault_id FROM {schema.quote(owners_from)}")
            if v != schema.DEFAULT_VAULT
        }
        tables = [
            t
            for t in schema.USER_SCOPED_TABLES
            if t
            in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        ]
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


def _count(path):
    conn = sqlite3.connect(path)
    try:
        return sum(
            conn.execute(
                f"SELECT COUNT(*) FROM {schema.quote(t)} WHERE vault_id = ?",
                (schema.DEFAULT_VAULT,),
            ).fetchone()[0]
            for t in schema.USER_SCOPED_TABLES
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (t,)).fetchone()
        )
    finally:
        conn.close()


def raw_updates(preview_copy, rule, target):
    """One transaction of plain UPDATEs moving the plan's rows to the plan's targets."""
    with open_readonly(preview_copy) as ro:
        res = resolve(ro, rule)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        if rule.kind != "move":
            for table, w in res.work.items():
                conn.execute(
                    f"CREATE TEMP TABLE {schema.quote('m_' + table)} "
                    "(rid INTEGER PRIMARY KEY, v TEXT)"
                )
                conn.executemany(
                    f"INSERT INTO temp.{schema.quote('m_' + table)} VALUES (?, ?)",
                    ((r, res.vaults[t]) for r, t in zip(w.rowids, w.targets)),
                )
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, w in res.work.items():
            q = schema.quote(table)
            if rule.kind == "move":
                conn.execute(
                    f"UPDATE {q} SET vault_id = ? WHERE vault_id = ?", (rule.target, rule.source)
                )
            elif len(w.rowids):
                conn.execute(
                    f"UPDATE {q} SET vault_id = m.v FROM temp.{schema.quote('m_' + table)}"
                    f" AS m WHERE {q}.rowid = m.rid"
                )
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()
        os.unlink(target)
