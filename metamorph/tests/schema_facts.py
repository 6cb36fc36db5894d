"""Metamorph's schema as the facts file states it (docs/metamorph-schema.md, a copy of
shared/metamorph-schema.md), parsed independently of metamorph.schema so the tests
compare our builder against the text, not against itself."""

import re
from dataclasses import dataclass, field
from pathlib import Path

FACTS = Path(__file__).resolve().parents[2] / "docs" / "metamorph-schema.md"
TYPES = ("INTEGER", "REAL", "BLOB", "BOOLEAN")


@dataclass
class Column:
    name: str
    type: str = "TEXT"
    notnull: bool = False
    pk: bool = False
    unique: bool = False
    default: str | None = None


@dataclass
class Table:
    name: str
    columns: list = field(default_factory=list)
    foreign_keys: set = field(default_factory=set)  # {(column, parent table)}
    indexes: dict = field(default_factory=dict)  # name -> ((col, desc), …), unique
    table_uniques: list = field(default_factory=list)  # [(col, …)]


def _split(text):
    """Split on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _column(spec):
    spec = re.sub(r"\((JSON text|FK → [a-z_]+)\)", "", spec).strip()
    words = spec.split()
    col = Column(words[0])
    for i, w in enumerate(words[1:], 1):
        if w in TYPES:
            col.type = w
        elif w == "NN":
            col.notnull = True
        elif w == "PK":
            col.pk = True
        elif w == "UNIQUE":
            col.unique = True
        elif w == "DEFAULT":
            col.default = words[i + 1]
    return col


def _index_list(text):
    """'idx_a (x, y DESC), UNIQUE idx_b (z)' -> {name: (((col, desc), …), unique)}."""
    out = {}
    for m in re.finditer(r"(UNIQUE )?(idx_[a-z_]+) \(([^)]*)\)", text):
        keys = tuple((c.split()[0], c.strip().endswith("DESC")) for c in m.group(3).split(","))
        out[m.group(2)] = (keys, bool(m.group(1)))
    return out


def legacy_tables():
    """Section 1's table: the eleven tables store.ts and sqlite-adapter.ts create."""
    out = {}
    for line in FACTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("id PK"):
            continue
        table = Table(cells[0])
        table.columns = [_column(s) for s in _split(cells[1])]
        for m in re.finditer(r"([a-z_]+) → ([a-z_]+)[^;]*?\(FK\)", cells[2]):
            table.foreign_keys.add((m.group(1), m.group(2)))
        table.indexes = _index_list(cells[3])
        out[table.name] = table
    return out


def sandbox_tables():
    """Section 3's bullets: the three tables of migration 002 (vault_id TEXT NOT NULL)."""
    text = FACTS.read_text()
    section = text[text.index("## 3.") : text.index("## 4.")]
    out = {}
    for m in re.finditer(r"- `([a-z_]+)`: (.*?)(?=\n- `|\nDown of 002)", section, re.S):
        body = " ".join(m.group(2).split())
        cols_text, _, idx_text = body.partition(" Indexes ")
        cols_text = cols_text.split(". **")[0].rstrip(".")
        table = Table(m.group(1))
        for spec in _split(cols_text):
            if spec.startswith("UNIQUE("):
                table.table_uniques.append(tuple(c.strip() for c in spec[7:-1].split(",")))
                continue
            col = _column(spec)
            if col.name == "vault_id":
                col.notnull = True
            fk = re.search(r"\(FK → ([a-z_]+)\)", spec)
            if fk:
                table.foreign_keys.add((col.name, fk.group(1)))
            table.columns.append(col)
        table.indexes = _index_list(idx_text)
        out[table.name] = table
    return out


def composite_indexes():
    """Section 2's table of 001's indexes: {name: (table, columns)}."""
    text = FACTS.read_text()
    section = text[text.index("## 2.") : text.index("## 3.")]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("idx_") or "&lt;" in cells[0]:
            continue
        names = [n.strip() for n in cells[0].split("/")]
        m = re.match(r"([a-z_]+) (.*)", cells[1])
        groups = [
            tuple(c.strip() for c in g.split(",")) for g in re.findall(r"\(([^)]*)\)", m.group(2))
        ]
        for name, cols in zip(names, groups):
            out[name] = (m.group(1), cols)
    generic = re.search(
        r"\| idx_&lt;table&gt;_vault_id \| \(vault_id, id\) for each of ([^|]*)\|", section
    )
    for t in generic.group(1).split(","):
        t = t.strip()
        out[f"idx_{t}_vault_id"] = (t, ("vault_id", "id"))
    return out
