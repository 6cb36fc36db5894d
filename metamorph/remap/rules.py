"""The three kinds of remap rule an operator can choose.

- MoveVault: every row of a source vault, in every vault table, to one target vault.
- SplitByOwner: target = prefix + the value of an owner column (or a JSON key of a
  `metadata` column) that really exists; rows without a value stay.
- SplitByMapping: a mapping file of conversation_id or session_id -> vault id.
Rules are plain data: they serialize into the stored plan and are validated before any
database is opened.
"""
from dataclasses import dataclass, field

from .. import schema
from ..errors import InvalidRemapRule
from . import csvmap, ids

DEFAULT_PREFIX = "user-"


def _check_source(source):
    if not isinstance(source, str) or not source:
        raise InvalidRemapRule("Choose the source vault whose rows are remapped (e.g. "
                               f"{schema.DEFAULT_VAULT}). Nothing was changed.")


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
            raise InvalidRemapRule(f"The target vault {ids.shown(self.target)} is the source "
                                   "vault itself: nothing would move. Choose another target.")
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
    kind = "owner"

    def validate(self):
        _check_source(self.source)
        if self.table not in schema.VAULT_TABLES:
            raise InvalidRemapRule(f"{ids.shown(self.table)} is not a Metamorph vault table. "
                                   "Nothing was changed. Choose an owner source the form "
                                   "offers.")
        if not isinstance(self.column, str) or not self.column:
            raise InvalidRemapRule("Choose the owner column. Nothing was changed.")
        if self.json_key is not None and (not self.json_key or '"' in self.json_key):
            raise InvalidRemapRule(f"The JSON key {ids.shown(self.json_key)} cannot be read "
                                   "(empty or containing a double quote). Nothing was changed.")
        if self.prefix:
            why = ids.problem(self.prefix)
            if why:
                raise InvalidRemapRule(f"The prefix {ids.shown(self.prefix)} cannot start a "
                                       f"vault id: {why}. Nothing was changed. Rule: "
                                       f"{ids.RULE_TEXT}.")
        return self

    def value_expr(self):
        """(SQL, params) reading the owner value; the JSON path is bound, never spliced."""
        col = schema.quote(self.column)
        if self.json_key is None:
            return col, ()
        return (f"CASE WHEN json_valid({col}) THEN json_extract({col}, ?) END",
                (f'$."{self.json_key}"',))

    def label(self):
        where = f"{self.table}.{self.column}"
        return f"{where} → {self.json_key}" if self.json_key is not None else where

    def to_dict(self):
        return {"kind": self.kind, "source": self.source, "table": self.table,
                "column": self.column, "json_key": self.json_key, "prefix": self.prefix}

    def describe(self):
        return (f"split {ids.shown(self.source)} by {self.label()}: target = "
                f"{ids.shown(self.prefix)} + value")


@dataclass(frozen=True)
class SplitByMapping:
    key: str
    mapping: dict
    lines: dict = field(default_factory=dict)
    source: str = schema.DEFAULT_VAULT
    kind = "mapping"

    @classmethod
    def from_csv(cls, data, source=schema.DEFAULT_VAULT):
        """Parse and check a mapping file (csvmap.py); MappingFileInvalid names each line."""
        key, mapping, lines = csvmap.parse_mapping_csv(data)
        return cls(key, mapping, lines, source).validate()

    def validate(self):
        _check_source(self.source)
        if self.key not in csvmap.KEYS:
            raise InvalidRemapRule(f"A mapping maps {' or '.join(csvmap.KEYS)}, not "
                                   f"{ids.shown(self.key)}. Nothing was changed.")
        if not self.mapping:
            raise InvalidRemapRule("The mapping is empty: nothing would move.")
        for root, vault in self.mapping.items():
            ids.validate_vault_id(vault, f"vault id for {self.key} {ids.shown(root)}")
        return self

    def to_dict(self):
        return {"kind": self.kind, "source": self.source, "key": self.key,
                "mapping": self.mapping, "lines": self.lines}

    def describe(self):
        return (f"split {ids.shown(self.source)} by a mapping of {len(self.mapping)} "
                f"{self.key} values to {len(set(self.mapping.values()))} vaults")


def rule_from_dict(data):
    kind = data.get("kind")
    if kind == "move":
        return MoveVault(data["target"], data["source"])
    if kind == "owner":
        return SplitByOwner(data["table"], data["column"], data.get("json_key"),
                            data.get("prefix", DEFAULT_PREFIX), data["source"])
    if kind == "mapping":
        return SplitByMapping(data["key"], dict(data["mapping"]),
                              {k: int(v) for k, v in (data.get("lines") or {}).items()},
                              data["source"])
    raise InvalidRemapRule(f"Unknown remap rule kind {ids.shown(kind)}.")
