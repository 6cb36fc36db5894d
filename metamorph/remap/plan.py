"""RemapPlan: a rule, the preview it gives on the data, and the fingerprint of that data.

`build_plan` works on a read-only (mode=ro) connection: previewing writes nothing. The
plan is plain JSON (`to_json` / `from_json`) so the Django side can store it; executing
runs exactly that plan and refuses if the fingerprint no longer matches the data.
"""
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from ..connection import open_readonly
from ..errors import InvalidRemapRule
from . import split
from .resolve import MAX_TARGETS_SHOWN, existing_vaults, resolve
from .rows import vault_tables
from .rules import UNATTRIBUTED, rule_from_dict

FORMAT = 1


@dataclass
class RemapPlan:
    plan_id: str
    created_at: str
    db_path: str
    rule: object
    fingerprint: str
    preview: dict

    @property
    def moves_total(self):
        return self.preview["moves_total"]

    def to_json(self):
        return json.dumps({"format": FORMAT, "plan_id": self.plan_id,
                           "created_at": self.created_at, "db_path": self.db_path,
                           "rule": self.rule.to_dict(), "fingerprint": self.fingerprint,
                           "preview": self.preview})

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise InvalidRemapRule("This stored plan was written by another version of "
                                   "metamorph-admin. Preview again.")
        return cls(data["plan_id"], data["created_at"], data["db_path"],
                   rule_from_dict(data["rule"]).validate(), data["fingerprint"], data["preview"])


def new_plan_id():
    return datetime.now(timezone.utc).strftime("rp-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def build_plan(db_path, rule):
    """Validate `rule`, compute its preview on the data as it is now: a RemapPlan."""
    rule.validate()
    with open_readonly(db_path) as conn:
        res = resolve(conn, rule, db_path)
        preview = make_preview(conn, rule, res, vault_tables(conn, db_path))
    return RemapPlan(new_plan_id(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     os.path.abspath(db_path), rule, res.fingerprint, preview)


def make_preview(conn, rule, res, tables):
    """Per target vault and table, rows that move; conflicts; what stays; new vault ids."""
    existing = existing_vaults(conn, tables)
    moves, stays, conflicts, per_table = {}, {}, {}, {}
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
        per_table[table] = {"source_rows": sum(n for n in counts.values() if n > 0),
                            "move": moved, "already_moved": res.done.get(table, 0)}
    targets = sorted(({"vault": res.vaults[i], "rows": sum(t.values()),
                       "new": res.vaults[i] not in existing} for i, t in moves.items()),
                     key=lambda t: (-t["rows"], t["vault"]))
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
            "rows": conflicts, "rows_total": sum(conflicts.values()),
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
    not_json = {t: c[split.METADATA_NOT_JSON] for t, c in res.counts.items()
                if c.get(split.METADATA_NOT_JSON, 0) > 0}
    return {"rows": rows, "rows_total": sum(rows.values()),
            "identity_rows": rows.get("identity", 0), "metadata_not_json": not_json,
            "policy": getattr(rule, "unattributed", None),
            "vault": getattr(rule, "unattributed_vault", None),
            "choices": UNATTRIBUTED if rule.kind != "move" else {}}
