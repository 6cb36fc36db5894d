"""RemapPlan: a rule, the preview it gives on the data, and each row's previewed decision.

`build_plan` works on a read-only (mode=ro) connection: previewing writes nothing. The
plan is plain JSON (`to_json` / `from_json`) so the Django side can store it. Executing
re-applies the rule to the data as it is then (decisions.py): rows the server added are
moved too, rows whose decision changed since the preview are held back and listed.
"""

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from ..connection import open_readonly
from ..errors import InvalidRemapRule
from . import split
from .decisions import Decisions
from .resolve import MAX_TARGETS_SHOWN, existing_vaults, resolve
from .rows import vault_tables
from .rules import UNATTRIBUTED, MoveVault, SplitByMapping, SplitByOwner, rule_from_dict

FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1 plans carry no per-row decisions


@dataclass
class RemapPlan:
    plan_id: str
    created_at: str
    db_path: str
    rule: MoveVault | SplitByOwner | SplitByMapping
    fingerprint: str
    preview: dict
    decisions: Decisions | None = None

    @property
    def moves_total(self):
        return self.preview["moves_total"]

    def to_json(self):
        return json.dumps(
            {
                "format": FORMAT,
                "plan_id": self.plan_id,
                "created_at": self.created_at,
                "db_path": self.db_path,
                "rule": self.rule.to_dict(),
                "fingerprint": self.fingerprint,
                "preview": self.preview,
                "decisions": self.decisions.to_dict() if self.decisions else None,
            }
        )

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        if data.get("format") not in READABLE_FORMATS:
            raise InvalidRemapRule(
                "This stored plan was written by another version of metamorph-admin. Preview again."
            )
        return cls(
            data["plan_id"],
            data["created_at"],
            data["db_path"],
            rule_from_dict(data["rule"]).validate(),
            data["fingerprint"],
            data["preview"],
            Decisions.from_dict(data["decisions"]) if data.get("decisions") else None,
        )


def new_plan_id():
    return datetime.now(UTC).strftime("rp-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def build_plan(db_path, rule):
    """Validate `rule`, compute its preview on the data as it is now: a RemapPlan."""
    rule.validate()
    with open_readonly(db_path) as conn:
        decisions = Decisions()
        res = resolve(conn, rule, db_path, observe=decisions.observe)
        record_held_back(decisions, res)
        preview = make_preview(conn, rule, res, vault_tables(conn, db_path))
    return RemapPlan(
        new_plan_id(),
        datetime.now(UTC).isoformat(timespec="seconds"),
        os.path.abspath(db_path),
        rule,
        res.fingerprint,
        preview,
        decisions,
    )


def record_held_back(decisions, res):
    """Give the rows the resolver held back after reading (unique-key clashes) their code."""
    decisions.vaults = res.vaults
    clashes: dict[str, set[int]] = {}
    for clash in res.unique_clashes:
        clashes.setdefault(clash["table"], set()).add(clash["rowid"])
    for table, rowids in clashes.items():
        decisions.mark(table, rowids, split.UNIQUE_CLASH)


def make_preview(conn, rule, res, tables):
    """Per target vault and table, rows that move; conflicts; what stays; new vault ids."""
    existing = existing_vaults(conn, tables)
    moves: dict[int, dict[str, int]] = {}
    stays: dict[str, dict[str, int]] = {}
    conflicts: dict[str, int] = {}
    per_table: dict[str, dict[str, int]] = {}
    for table, counts in res.counts.items():
        moved = 0
        for code, n in counts.items():
            if n <= 0:
                continue
            if code >= 0:
                moves.setdefault(code, {})[table] = n
                moved += n
            elif code == split.CONFLICT:
                conflicts[table] = n
            else:
                stays.setdefault(table, {})[split.REASONS[code][0]] = n
        per_table[table] = {
            "source_rows": sum(n for n in counts.values() if n > 0),
            "move": moved,
            "already_moved": res.done.get(table, 0),
        }
    targets = sorted(
        (
            {"vault": res.vaults[i], "rows": sum(t.values()), "new": res.vaults[i] not in existing}
            for i, t in moves.items()
        ),
        key=lambda t: (-t["rows"], t["vault"]),
    )
    new_vaults = [t["vault"] for t in targets if t["new"]]
    decider = res.decider
    return {
        "rule": rule.describe(),
        "source_vault": res.source,
        "tables": per_table,
        "moves_total": sum(t["rows"] for t in targets),
        "moves": {res.vaults[i]: t for i, t in sorted(moves.items())[:MAX_TARGETS_SHOWN]},
        "targets": targets[:MAX_TARGETS_SHOWN],
        "targets_total": len(targets),
        "new_vaults": new_vaults[:MAX_TARGETS_SHOWN],
        "new_vaults_total": len(new_vaults),
        "stays": stays,
        "stays_total": sum(sum(r.values()) for r in stays.values()),
        "stay_samples": {k: v for k, v in res.samples.items() if k != "conflict"},
        "conflicts": {
            "components": decider.conflict_count() if hasattr(decider, "conflict_count") else 0,
            "rows": conflicts,
            "rows_total": sum(conflicts.values()),
            "sample": decider.conflict_sample() if hasattr(decider, "conflict_sample") else [],
        },
        "unique_clashes": res.unique_clashes[:50],
        "unattributable": unattributable_section(rule, res),
        "mapping_ids": (decider.found.summary(rule.lines) if rule.kind == "mapping" else None),
        "copies": res.copies,
        "reasons": {name: text for name, text in split.REASONS.values()},
    }


def unattributable_section(rule, res):
    """Rows nothing ties to a conversation or session, per table, and the operator's choice."""
    decider = res.decider
    rows = {t: n for t, n in getattr(decider, "unattributed", {}).items() if n}
    not_json = {
        t: c[split.METADATA_NOT_JSON]
        for t, c in res.counts.items()
        if c.get(split.METADATA_NOT_JSON, 0) > 0
    }
    return {
        "rows": rows,
        "rows_total": sum(rows.values()),
        "identity_rows": rows.get("identity", 0),
        "metadata_not_json": not_json,
        "policy": getattr(rule, "unattributed", None),
        "vault": getattr(rule, "unattributed_vault", None),
        "choices": UNATTRIBUTED if rule.kind != "move" else {},
    }
