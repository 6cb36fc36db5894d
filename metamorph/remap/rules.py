"""The three kinds of remap rule an operator can choose.

- MoveVault: every row of a source vault, in every vault table, to one target vault.
- SplitByOwner: target = prefix + the value of an owner column (or a JSON key of a
  `metadata` column) that really exists; rows without a value stay.
- SplitByMapping: a mapping file of conversation_id or session_id -> vault id (any id
  found anywhere in the source vault: both are root ids, graph.py).
Splits also say what happens to rows nothing ties to a root (UNATTRIBUTED).
Rules are plain data: they serialize into the stored plan and are validated before any
database is opened.
"""

from dataclasses import dataclass, field

from .. import schema
from ..errors import InvalidRemapRule
from . import csvmap, ids

DEFAULT_PREFIX = "user-"
# What a split does with rows nothing ties to a conversation or session (identity,
# operator_performance, memories without metadata.conversationId): the operator decides.
UNATTRIBUTED = {
    "leave": "leave them in the source vault",
    "copy-identity": "copy the single identity row into every target vault (the other rows "
    "stay in the source vault)",
    "send": "send them all, identity included, to one named vault",
}


def _check_unattributed(policy, vault, source):
    if policy not in UNATTRIBUTED:
        raise InvalidRemapRule(
            f"{ids.shown(policy)} is not a choice for rows that cannot be "
            f"attributed: choose {', '.join(UNATTRIBUTED)}. Nothing was "
            "changed."
        )
    if policy == "send":
        if not vault:
            raise InvalidRemapRule(
                "'send' needs the vault the rows that cannot be attributed "
                "go to: name it (e.g. a shared vault). Nothing was changed."
            )
        ids.validate_vault_id(vault, "vault for the rows that cannot be attributed")
        if vault == source:
            raise InvalidRemapRule(
                f"The vault for the rows that cannot be attributed is the "
                f"source vault {ids.shown(source)}: choose 'leave' instead, "
                "or another vault. Nothing was changed."
            )
    elif vault:
        raise InvalidRemapRule(
            "A vault for the rows that cannot be attributed is only used "
            "with 'send'. Nothing was changed."
        )


def _describe_unattributed(rule):
    if rule.unattributed == "send":
        return f"; rows that cannot be attributed go to {ids.shown(rule.unattributed_vault)}"
    if rule.unattributed == "copy-identity":
        return "; the identity row is copied into every target vault"
    return ""


def _check_source(source):
    if not isinstance(source, str) or not source:
        raise InvalidRemapRule(
            "Choose the source vault whose rows are remapped (e.g. "
            f"{schema.DEFAULT_VAULT}). Nothing was changed."
        )


@dataclass(frozen=True)
class MoveVault:
    target: str
    source: str = schema.DEFAULT_VAULT
    kind = "move"

    def validate(self):
        # The source may be an odd existing id (moving rows out of it is the fix); the
        # target is written, so it must follow the id rules.
        _check_source(self.source)
        ids.validate_vault_id(self.target, "target vault")
        if self.target == self.source:
            raise InvalidRemapRule(
                f"The target vault {ids.shown(self.target)} is the source "
                "vault itself: nothing would move. Choose another target."
            )
        return self

    def to_dict(self):
        return {"kind": self.kind, "source": self.source, "target": self.target}

    def describe(self):
        return f"move every row of {ids.shown(self.source)} to {ids.shown(self.target)}"


@dataclass(frozen=True)
class SplitByOwner:
    table: str
    column: str
    json_key: str | None = None
    prefix: str = DEFAULT_PREFIX
    source: str = schema.DEFAULT_VAULT
    unattributed: str = "leave"
    unattributed_vault: str | None = None
    kind = "owner"

    def validate(self):
        _check_source(self.source)
        _check_unattributed(self.unattributed, self.unattributed_vault, self.source)
        if self.table not in schema.VAULT_TABLES:
            raise InvalidRemapRule(
                f"{ids.shown(self.table)} is not a Metamorph vault table. "
                "Nothing was changed. Choose an owner source the form "
                "offers."
            )
        if not isinstance(self.column, str) or not self.column:
            raise InvalidRemapRule("Choose the owner column. Nothing was changed.")
        if self.json_key is not None and (not self.json_key or '"' in self.json_key):
            raise InvalidRemapRule(
                f"The JSON key {ids.shown(self.json_key)} cannot be read "
                "(empty or containing a double quote). Nothing was changed."
            )
        if self.prefix:
            why = ids.problem(self.prefix)
            if why:
                raise InvalidRemapRule(
                    f"The prefix {ids.shown(self.prefix)} cannot start a "
                    f"vault id: {why}. Nothing was changed. Rule: "
                    f"{ids.RULE_TEXT}."
                )
        return self

    def value_expr(self):
        """(SQL, params) reading the owner value; the JSON path is bound, never spliced."""
        col = schema.quote(self.column)
        if self.json_key is None:
            return col, ()
        return (
            f"CASE WHEN json_valid({col}) THEN json_extract({col}, ?) END",
            (f'$."{self.json_key}"',),
        )

    def label(self):
        where = f"{self.table}.{self.column}"
        return f"{where} → {self.json_key}" if self.json_key is not None else where

    def to_dict(self):
        return {
            "kind": self.kind,
            "source": self.source,
            "table": self.table,
            "column": self.column,
            "json_key": self.json_key,
            "prefix": self.prefix,
            "unattributed": self.unattributed,
            "unattributed_vault": self.unattributed_vault,
        }

    def describe(self):
        return (
            f"split {ids.shown(self.source)} by {self.label()}: target = "
            f"{ids.shown(self.prefix)} + value" + _describe_unattributed(self)
        )


@dataclass(frozen=True)
class SplitByMapping:
    key: str
    mapping: dict
    lines: dict = field(default_factory=dict)
    source: str = schema.DEFAULT_VAULT
    unattributed: str = "leave"
    unattributed_vault: str | None = None
    kind = "mapping"

    @classmethod
    def from_csv(
        cls, data, source=schema.DEFAULT_VAULT, unattributed="leave", unattributed_vault=None
    ):
        """Parse and check a mapping file (csvmap.py); MappingFileInvalid names each line."""
        key, mapping, lines = csvmap.parse_mapping_csv(data)
        return cls(key, mapping, lines, source, unattributed, unattributed_vault).validate()

    def validate(self):
        _check_source(self.source)
        _check_unattributed(self.unattributed, self.unattributed_vault, self.source)
        if self.key not in csvmap.KEYS:
            raise InvalidRemapRule(
                f"A mapping maps {' or '.join(csvmap.KEYS)}, not "
                f"{ids.shown(self.key)}. Nothing was changed."
            )
        if not self.mapping:
            raise InvalidRemapRule("The mapping is empty: nothing would move.")
        for root, vault in self.mapping.items():
            ids.validate_vault_id(vault, f"vault id for {self.key} {ids.shown(root)}")
        return self

    def to_dict(self):
        return {
            "kind": self.kind,
            "source": self.source,
            "key": self.key,
            "mapping": self.mapping,
            "lines": self.lines,
            "unattributed": self.unattributed,
            "unattributed_vault": self.unattributed_vault,
        }

    def describe(self):
        return (
            f"split {ids.shown(self.source)} by a mapping of {len(self.mapping)} "
            f"{self.key} values to {len(set(self.mapping.values()))} vaults"
            + _describe_unattributed(self)
        )


def rule_from_dict(data):
    kind = data.get("kind")
    if kind == "move":
        return MoveVault(data["target"], data["source"])
    if kind == "owner":
        return SplitByOwner(
            data["table"],
            data["column"],
            data.get("json_key"),
            data.get("prefix", DEFAULT_PREFIX),
            data["source"],
            data.get("unattributed", "leave"),
            data.get("unattributed_vault"),
        )
    if kind == "mapping":
        return SplitByMapping(
            data["key"],
            dict(data["mapping"]),
            {k: int(v) for k, v in (data.get("lines") or {}).items()},
            data["source"],
            data.get("unattributed", "leave"),
            data.get("unattributed_vault"),
        )
    raise InvalidRemapRule(f"Unknown remap rule kind {ids.shown(kind)}.")
