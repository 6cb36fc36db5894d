"""The backup repository's options and output lines, shared by backupdb and checkbackups."""

from metamorph.units import human_size
from metamorph_admin.cli import positive_int


def add_retention_arguments(parser):
    """--keep-daily/--keep-weekly/--keep-monthly: borg prune's policy for this database."""
    for unit in ("daily", "weekly", "monthly"):
        parser.add_argument(
            f"--keep-{unit}",
            type=positive_int,
            metavar="N",
            help=f"in the repository, keep the last N {unit} archives of this database "
            "(borg prune; older ones are dropped and their space compacted)",
        )


def retention_params(opts):
    return {
        f"keep_{unit}": opts[f"keep_{unit}"]
        for unit in ("daily", "weekly", "monthly")
        if opts.get(f"keep_{unit}")
    }


def repository_lines(stored):
    """What backupdb says about the repository part of its job (nothing without one)."""
    if not stored:
        return []
    lines = [
        f"stored in the repository as {stored['archive']}: added "
        f"{human_size(stored['added_bytes'])} (deduplicated, compressed, encrypted) for "
        f"{human_size(stored['original_bytes'])}"
    ]
    lines += [f"repository retention dropped {name}" for name in stored.get("dropped") or []]
    return lines
