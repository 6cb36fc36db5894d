"""Damage for the backup-repository tests: what a failing disk does to a borg repository."""

import os


def corrupt_largest_segment(repo_dir):
    """Overwrite 4 KiB in the middle of the repository's biggest segment file (data/N/M)."""
    segments = [
        os.path.join(d, f)
        for d, _, names in os.walk(os.path.join(repo_dir, "data"))
        for f in names
        if f.isdigit()
    ]
    target = max(segments, key=os.path.getsize)
    with open(target, "r+b") as fh:
        fh.seek(os.path.getsize(target) // 2)
        fh.write(b"\xff" * 4096)
    return target
