"""The gatherers behind checked items, by name: each reads one database's evidence and says
pass/info/fail. A gatherer never raises for an operator problem: a missing file or a refused
connection is a failed outcome naming the cause."""

from metamorph.errors import MetamorphError
from rollouts import gather_contents, gather_live, gather_operations
from rollouts.evidence import Outcome

GATHERERS = {
    f.__name__: f
    for f in (
        gather_operations.backup_before_migrating,
        gather_operations.recent_backup,
        gather_operations.row_counts,
        gather_operations.rehearsal,
        gather_operations.migration_verified,
        gather_contents.index_health,
        gather_contents.isolation_audit,
        gather_contents.legacy_in_default_vault,
        gather_contents.vault_distribution,
        gather_contents.remap_plans,
        gather_contents.default_vault_leftovers,
        gather_live.live_health,
        gather_live.live_dev_mode_off,
        gather_live.live_dev_mode,
        gather_live.live_isolation,
    )
}


def gather(name, target):
    """Run one gatherer; an operator error (missing file, not SQLite…) is a failed outcome."""
    try:
        return GATHERERS[name](target)
    except MetamorphError as exc:
        return Outcome("fail", str(exc))
    except OSError as exc:  # e.g. a backup directory this user may not read
        return Outcome(
            "fail",
            f"{exc.filename or target.path}: {exc.strerror or exc}. Check "
            "the path and its permissions, then re-run.",
        )
