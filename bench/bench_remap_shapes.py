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
import tempfile
import time

from bench.bench_remap_workload import copy_db, legacy_copy, raw_updates
from bench.common import bench_database
from metamorph.remap import isolation_audit
from metamorph.remap.execute import DURABILITY, execute_plan
from metamorph.remap.plan import build_plan
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
        base, owners = legacy_copy(path, work, owners_from="sessions")
        size = os.path.getsize(base) / 1e9
        csv = "session_id,vault_id\n" + "".join(f"{s},{v}\n" for s, v in owners.items())
        rule = SplitByMapping.from_csv(csv.encode())
        print(
            f"\n== Issue 9 — split by a session mapping, {shape} shape ({size:.2f} GB, "
            f"{len(owners):,} sessions to {len(set(owners.values()))} vaults)"
        )
        preview_copy = copy_db(base, work, "preview")
        started = time.perf_counter()
        plan = build_plan(preview_copy, rule)
        out = {"preview_s": time.perf_counter() - started, "rows": plan.moves_total}
        moved = ", ".join(
            f"{t} {r['move']:,}" for t, r in plan.preview["tables"].items() if r["move"]
        )
        print(f"  {plan.moves_total:,} rows move ({moved}); preview {out['preview_s']:.1f} s")
        out["raw_s"] = raw_updates(preview_copy, rule, copy_db(base, work, "raw"))
        os.unlink(preview_copy)
        for mode, durability in modes:
            target = copy_db(base, work, f"{mode}-{durability}")
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
