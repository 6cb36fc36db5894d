"""Legacy remap: move rows between vaults with a preview, a journal and an undo.

Plain Python, no Django. The Django form, the `remapvaults` command and the background
task all call these functions:

    discover_owner_sources(db_path, source)          owner columns / metadata keys offered
    build_plan(db_path, rule) -> RemapPlan           read-only preview + each row's decision
    RemapPlan.to_json() / RemapPlan.from_json(text)  the stored plan
    execute_plan(db_path, plan, journal_path, progress, mode, batch_seconds) -> dict
    undo_plan(db_path, plan_id, journal_path, progress) -> dict
    plan_status(db_path, plan_id, journal_path) / incomplete_plans(db_path, journal_path)
    isolation_audit(db_path, journal_path=None, seconds=None) -> dict

Rules: MoveVault(target, source), SplitByOwner(table, column, json_key, prefix, source,
unattributed, unattributed_vault), SplitByMapping.from_csv(data, source, unattributed,
unattributed_vault); UNATTRIBUTED lists the choices for rows nothing ties to a root.

Design in one paragraph: a split decides on link *components* (graph.py: a conversation is
an id value, conversation and session ids are one namespace, so real files whose
conversations table is empty and tidy ones follow the same links; the isolation audit
checks those same links) — a conversation, its sessions, messages, memories… move
together or not at all, and a component whose roots
ask for two vaults is a conflict that stays. Planning is read-only and keeps each row's
decision (decisions.py); execution re-applies the rule to the data as it is then, moves
rows added since, holds back rows whose decision changed (never refuses because Metamorph
wrote), then moves rows in short journaled transactions sized by their measured lock hold
(online, batches.py; catch-up passes for what Metamorph writes meanwhile) or in one transaction
with the vault indexes dropped and recreated (offline: needs downtime). The journal is a
separate SQLite file attached to the connection, committed atomically with each batch by
SQLite's super-journal (rollback-journal mode); a WAL database keeps it inside the file
(metamorph_admin_remap_*). durability="fast" (synchronous=OFF) is faster and safe against a
killed process, not against a power loss: use it only right after a verified backup.
"""

# Each name is imported on first use (PEP 562): `metamorph.remap.ids` and the other light
# submodules are needed by every command, the planner and executor only by a remap.
from typing import TYPE_CHECKING

from metamorph import lazy

if TYPE_CHECKING:
    from .audit import isolation_audit
    from .execute import execute_plan
    from .ids import validate_vault_id
    from .journal import default_journal_path
    from .mapping_ids import found_rows
    from .owners import discover_owner_sources
    from .plan import RemapPlan, build_plan
    from .rules import UNATTRIBUTED, MoveVault, SplitByMapping, SplitByOwner, rule_from_dict
    from .status import incomplete_plans, plan_status
    from .undo import undo_plan

_WHERE = {
    "isolation_audit": ".audit",
    "execute_plan": ".execute",
    "validate_vault_id": ".ids",
    "default_journal_path": ".journal",
    "found_rows": ".mapping_ids",
    "discover_owner_sources": ".owners",
    "RemapPlan": ".plan",
    "build_plan": ".plan",
    "UNATTRIBUTED": ".rules",
    "MoveVault": ".rules",
    "SplitByMapping": ".rules",
    "SplitByOwner": ".rules",
    "rule_from_dict": ".rules",
    "incomplete_plans": ".status",
    "plan_status": ".status",
    "undo_plan": ".undo",
}

__all__ = [
    "MoveVault",
    "RemapPlan",
    "SplitByMapping",
    "SplitByOwner",
    "UNATTRIBUTED",
    "build_plan",
    "default_journal_path",
    "discover_owner_sources",
    "execute_plan",
    "found_rows",
    "incomplete_plans",
    "isolation_audit",
    "plan_status",
    "rule_from_dict",
    "undo_plan",
    "validate_vault_id",
]


__getattr__ = lazy.exports(__name__, _WHERE, globals())
