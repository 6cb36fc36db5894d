"""Backup copy throughput vs `cp` + fsync of the same file; peak memory of backupdb; the
verify phase (sha256 and the check side by side; --verify full|quick)."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from bench.common import best_of, line, section
from metamorph.backup import copy as copier

_CHILD = """
import json, sys
from metamorph.backup import run_backup
m = run_backup(sys.argv[1], sys.argv[2], verify=sys.argv[3] if len(sys.argv) > 3 else "full")
print(json.dumps({k: m[k] for k in ("copy_seconds", "verify_seconds", "count_seconds",
                                    "backup_size_bytes", "name")}))
"""


def _memory(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    fields[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def backup_in_child(path, dest, verify="full"):
    """Run run_backup in a child process, sampling its memory every 20 ms."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, path, dest, verify],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = {"VmRSS": 0, "RssAnon": 0}
    while child.poll() is None:
        for key, value in _memory(child.pid).items():
            peak[key] = max(peak[key], value)
        time.sleep(0.02)
    total = time.perf_counter() - started
    return json.loads(child.stdout.read()), peak, total


def cp_with_fsync(path, dest_dir):
    target = os.path.join(dest_dir, "cp-copy.db")
    started = time.perf_counter()
    subprocess.run(["cp", path, target], check=True)
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    took = time.perf_counter() - started
    os.unlink(target)
    return took


def drop_page_cache():
    """Cold-cache runs, as a multi-GB file that is not all in RAM is read (needs root)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def _measure(path, work, cold):
    if cold:
        # The VM's host caches what the guest drops: read once first so that cp and the
        # backup both start guest-cold and host-warm, whichever runs first.
        drop_page_cache()
        cp_with_fsync(path, work)
        drop_page_cache()
    cp_t = cp_with_fsync(path, work)
    if cold:
        drop_page_cache()
    manifest, peak, total = backup_in_child(path, work)
    for name in os.listdir(work):
        os.unlink(os.path.join(work, name))
    return cp_t, manifest, peak, total


def _throughput_line(label, size, cp_t, manifest):
    ours, raw = size / manifest["copy_seconds"] / 1e6, size / cp_t / 1e6
    ratio = ours / raw
    print(
        f"  copy phase, {label:<11} ours {ours:6.0f} MB/s  cp+fsync {raw:6.0f} MB/s  "
        f"ratio {ratio:4.2f} (target >= 0.7: {'meets' if ratio >= 0.7 else 'MISSES'})"
    )


def run(path):
    with section("backupdb on the migrated database"):
        size = os.path.getsize(path)
        work = tempfile.mkdtemp(prefix="bench-backup-", dir=os.path.dirname(path))
        try:
            cold = drop_page_cache()
            runs = {"cold cache": _measure(path, work, True)} if cold else {}
            cp_with_fsync(path, work)  # warm the page cache for both
            runs["warm cache"] = max(
                (_measure(path, work, False) for _ in range(2)),
                key=lambda r: r[0] / r[1]["copy_seconds"],
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for label, (cp_t, manifest, _, _) in runs.items():
            _throughput_line(label, size, cp_t, manifest)
        if not cold:
            print("  (cold-cache run skipped: dropping the page cache needs root)")
        cp_t, manifest, peak, total = runs["warm cache"]
        anon = peak["RssAnon"] / 1e6
        print(
            f"  peak memory: {anon:.0f} MB anonymous (target < 100 MB: "
            f"{'meets' if anon < 100 else 'MISSES'}); {peak['VmRSS'] / 1e6:.0f} MB RSS "
            "including the read-only mmap of the source, which the kernel can drop any time"
        )
        print(
            f"  whole backup {total:.1f} s for {size / 1e9:.2f} GB: copy "
            f"{manifest['copy_seconds']:.1f} s, verify (sha256 + integrity_check) "
            f"{manifest['verify_seconds']:.1f} s, row counts {manifest['count_seconds']:.1f} s"
        )


def _raw_check(path, pragma):
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
    finally:
        conn.close()


def _raw_sha(path):
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def run_verify(path):
    """Issue 12: the verify phase of a backup, sha256 and the check one after the other (as
    before) and side by side (now), full and quick, against raw hashlib + sqlite3."""
    with section("Issue 12 — backup verification: sequential vs side by side, full vs quick"):
        size = os.path.getsize(path)
        work = tempfile.mkdtemp(prefix="bench-verify-", dir=os.path.dirname(path))
        try:
            copy = os.path.join(work, "copy.db")
            shutil.copyfile(path, copy)
            _raw_sha(copy)  # warm the page cache once for every variant
            raw_sha, _ = best_of(2, lambda: _raw_sha(copy))
            raw_full, _ = best_of(1, lambda: _raw_check(copy, "integrity_check"))
            raw_quick, _ = best_of(2, lambda: _raw_check(copy, "quick_check"))
            before, _ = best_of(
                1, lambda: (copier.sha256_file(copy), copier.integrity_problems(copy))
            )
            full, _ = best_of(1, lambda: copier.hash_and_check(copy, check="integrity_check"))
            quick, _ = best_of(2, lambda: copier.hash_and_check(copy, check="quick_check"))
            os.unlink(copy)
            whole = {mode: backup_in_child(path, work, mode)[2] for mode in ("full", "quick")}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"  {size / 1e9:.2f} GB, warm cache. raw: sha256 {raw_sha:.2f} s, integrity_check "
            f"{raw_full:.2f} s, quick_check {raw_quick:.2f} s"
        )
        line(
            "before: sha256 then integrity_check (raw: same, raw)", before, raw_sha + raw_full, 1.2
        )
        line("now --verify full: side by side (raw: sum)", full, raw_sha + raw_full, 1.0)
        line("now --verify quick: side by side (raw: sum)", quick, raw_sha + raw_quick, 1.0)
        print(
            f"  verify phase: before {before:.2f} s -> full {full:.2f} s "
            f"({before / full:.2f}x faster), quick {quick:.2f} s ({before / quick:.1f}x)"
        )
        print(
            f"  whole backupdb: --verify full {whole['full']:.1f} s, --verify quick "
            f"{whole['quick']:.1f} s"
        )
