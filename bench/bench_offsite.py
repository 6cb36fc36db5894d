"""Issue 18: what a daily backup adds to a deduplicating repository, restic vs borg.

A first backup of the verified copy, then the writer harness adds 1 % more rows (Metamorph's
own growth: appends and the index pages they touch) and the copy is backed up again; the
worst case updates 1 % of the rows at random instead. Also 14 daily backups with 1 % daily
growth, and the whole backup's and the restore's time beside today's local-only ones and `cp`.
"""

import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time

from bench.common import section
from metamorph.backup import restore_backup, run_backup
from metamorph.backup.repository import CHUNKER
from metamorph.testing.writer import run_writer

PASSWORD = "bench-only-password"
# borg's default chunker targets 2 MiB; ours (CHUNKER): 4 KiB minimum (a SQLite page), ~8 KiB
# average; a 16 KiB average beside it, to show the trend.
BORG_16K = "buzhash,12,18,14,4095"
# Columns the random-update worst case changes (the tables Metamorph's own code writes).
UPDATES = {
    "semantic_memory": "importance = abs(random() % 1000) / 1000.0",
    "operator_performance": "effectiveness_score = abs(random() % 1000) / 1000.0",
    "evolution_snapshots": "drift_at_snapshot = abs(random() % 100)",
    "sessions": "message_count = message_count + 1",
    "emotional_arcs": "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
}


class Restic:
    name = "restic 0.14 (compression auto)"

    def __init__(self, repo):
        self.repo = repo
        self.env = {**os.environ, "RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": repo}
        self._run("init", "--repository-version", "2")

    def _run(self, *args):
        subprocess.run(["restic", "-q", *args], env=self.env, check=True, capture_output=True)

    def backup(self, stage):
        self._run("backup", "--host", "bench", stage)

    def restore(self, target):
        self._run("restore", "latest", "--target", target)


class Borg:
    def __init__(self, repo, chunker=None):
        self.repo, self.chunker = repo, chunker
        self.name = f"borg {'tuned ' + chunker if chunker else 'default chunker (2 MiB)'}, lz4"
        self.env = {
            **os.environ,
            "BORG_PASSPHRASE": PASSWORD,
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        }
        self.count = 0
        subprocess.run(
            ["borg", "init", "-e", "repokey-blake2", repo],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def backup(self, stage):
        self.count += 1
        extra = ["--chunker-params", self.chunker] if self.chunker else []
        subprocess.run(
            [
                "borg",
                "create",
                "--compression",
                "lz4",
                *extra,
                f"{self.repo}::b{self.count}",
                stage,
            ],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def restore(self, target):
        subprocess.run(
            ["borg", "extract", f"{self.repo}::b{self.count}"],
            cwd=target,
            env=self.env,
            check=True,
            capture_output=True,
        )


def repo_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names)


def grow(db, work, fraction):
    """The writer harness adds `fraction` of the file's rows, one commit each."""
    conn = sqlite3.connect(db)
    total = sum(
        conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    )
    conn.close()
    logs = tempfile.mkdtemp(dir=work)
    run_writer(db, logs, interval=0, transactions=max(1, int(total * fraction)), seed=7)
    shutil.rmtree(logs)


def update_randomly(db, fraction, seed=11):
    """The worst case: `fraction` of the rows of the written tables updated at random."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for table, change in UPDATES.items():
        rowids = [r[0] for r in conn.execute(f'SELECT rowid FROM "{table}"')]
        for rowid in rng.sample(rowids, max(1, int(len(rowids) * fraction))):
            conn.execute(f'UPDATE "{table}" SET {change} WHERE rowid = ?', (rowid,))
    conn.execute("COMMIT")
    conn.close()


def _stage(db, work):
    """Today's verified local copy, hard-linked under a stable name (as backupdb stages it)."""
    local = os.path.join(work, "local")
    shutil.rmtree(local, ignore_errors=True)
    started = time.perf_counter()
    m = run_backup(db, local, verify="full")
    local_s = time.perf_counter() - started
    stage = os.path.join(work, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    os.link(m["path"], os.path.join(stage, "metamorph.db"))
    shutil.copy(m["manifest_path"], os.path.join(stage, "manifest.json"))
    return stage, local_s, m


# BENCH_OFFSITE_TOOLS="borg-ours,borg-fixed4k": only these (a 1 GB run with every tool takes
# long); by default every tool below.
TOOLS = {
    "restic": lambda work: Restic(os.path.join(work, "restic")),
    "borg-default": lambda work: Borg(os.path.join(work, "borg-default")),
    "borg-16k": lambda work: Borg(os.path.join(work, "borg-16k"), BORG_16K),
    "borg-ours": lambda work: Borg(os.path.join(work, "borg-ours"), CHUNKER),
    # One chunk per SQLite page (4 KiB) or per 4 pages: no content-defined cut at all.
    "borg-fixed4k": lambda work: Borg(os.path.join(work, "borg-fixed4k"), "fixed,4096"),
    "borg-fixed16k": lambda work: Borg(os.path.join(work, "borg-fixed16k"), "fixed,16384"),
}
DEFAULT_TOOLS = "restic,borg-default,borg-16k,borg-ours"


def _tools(work):
    chosen = [n.strip() for n in os.environ.get("BENCH_OFFSITE_TOOLS", DEFAULT_TOOLS).split(",")]
    missing = [n for n in chosen if n and not shutil.which(n.split("-")[0])]
    if missing:  # restic is only the peer: `apt install restic` to measure it too
        print(f"    not installed, left out: {', '.join(missing)}")
    return [TOOLS[n](work) for n in chosen if n and n not in missing]


def _second_backup(source, work, change):
    """(tool name, bytes added by the second backup) after `change` of the file."""
    db = os.path.join(work, "live.db")
    shutil.copyfile(source, db)
    tools = _tools(work)
    stage, _, _ = _stage(db, work)
    first = {}
    for tool in tools:
        tool.backup(stage)
        first[tool.name] = repo_bytes(tool.repo)
    change(db)
    stage, _, _ = _stage(db, work)
    out = []
    for tool in tools:
        tool.backup(stage)
        out.append((tool.name, first[tool.name], repo_bytes(tool.repo) - first[tool.name]))
    for tool in tools:
        shutil.rmtree(tool.repo)
    return out


def _fourteen_days(source, work, work_fn):
    db = os.path.join(work, "live.db")
    shutil.copyfile(source, db)
    tools = _tools(work)
    for _ in range(14):
        stage, _, _ = _stage(db, work)
        for tool in tools:
            tool.backup(stage)
        work_fn(db)
    out = [(tool.name, repo_bytes(tool.repo)) for tool in tools]
    return out, tools, os.path.getsize(db)


def _times(tools, db, work):
    """Whole backup (verified copy + repository) vs local-only vs cp; restore vs local."""
    stage, local_s, m = _stage(db, work)
    started = time.perf_counter()
    restore_backup(db, os.path.dirname(m["path"]), m["name"])
    local_restore_s = time.perf_counter() - started
    started = time.perf_counter()
    shutil.copyfile(db, os.path.join(work, "cp.db"))
    cp_s = time.perf_counter() - started
    os.unlink(os.path.join(work, "cp.db"))
    lines = []
    for tool in tools:
        started = time.perf_counter()
        tool.backup(stage)
        up_s = time.perf_counter() - started
        target = tempfile.mkdtemp(dir=work)
        started = time.perf_counter()
        tool.restore(target)
        restore_s = time.perf_counter() - started
        shutil.rmtree(target)
        lines.append((tool.name, local_s + up_s, restore_s))
    return cp_s, local_s, local_restore_s, lines


def run(path):
    size = os.path.getsize(path)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with section(f"Issue 18 — off-host repository, {size / 1e6:.0f} MB file, load average {load}"):
        work = tempfile.mkdtemp(prefix="bench-offsite-", dir=os.path.dirname(path))
        try:
            for title, change in (
                ("1 % rows appended by the writer", lambda db: grow(db, work, 0.01)),
                ("1 % rows updated at random (worst case)", lambda db: update_randomly(db, 0.01)),
            ):
                print(f"  second backup after {title}:")
                for name, first, added in _second_backup(path, work, change):
                    verdict = "meets" if added < 0.03 * size else "MISSES"
                    print(
                        f"    {name:<44} first {first / 1e6:7.1f} MB  adds {added / 1e6:7.2f} MB"
                        f" = {100 * added / size:5.2f} % of the file (target < 3 %: {verdict})"
                    )
            totals, tools, final = _fourteen_days(path, work, lambda db: grow(db, work, 0.01))
            print("  14 daily backups, 1 % appended each day:")
            for name, total in totals:
                ratio = total / final
                print(
                    f"    {name:<44} repository {total / 1e6:7.1f} MB = {ratio:4.2f}x the file "
                    f"(target < 1.3x: {'meets' if ratio < 1.3 else 'MISSES'})"
                )
            cp_s, local_s, local_restore_s, lines = _times(
                tools, os.path.join(work, "live.db"), work
            )
            print(
                f"  cp {cp_s:.2f} s; today's local-only verified backup {local_s:.2f} s, local "
                f"restore (safety backup + restore + checks) {local_restore_s:.2f} s"
            )
            for name, whole, restore_s in lines:
                print(
                    f"    {name:<44} whole backup {whole:6.2f} s  extract from it "
                    f"{restore_s:6.2f} s (then the local restore as above)"
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
