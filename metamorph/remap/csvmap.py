"""The mapping file of a split: CSV of `conversation_id,vault_id` or `session_id,vault_id`.

The file the Remap page downloads (source_ids.py) has more columns after those two (rows,
found in): a header that names them makes them notes, ignored, and a row of such a file
whose vault_id is left empty is skipped (that id stays in the source vault).

Everything that can be checked without the database is checked here (size, encoding,
header, columns, vault ids, one id mapped to two vaults), each problem naming its line.
Ids unknown to the database are checked when the plan is built (plan.py).
"""

import csv
import io

from ..errors import MappingFileInvalid
from . import ids

MAX_BYTES = 10_000_000
MAX_ROWS = 200_000
KEYS = ("conversation_id", "session_id")
HEADERS = tuple(f"{k},vault_id" for k in KEYS)
MAX_PROBLEMS = 200


def parse_mapping_csv(data, max_bytes=MAX_BYTES, max_rows=MAX_ROWS):
    """(key, {id: vault}, {id: line}) from the file's bytes; MappingFileInvalid otherwise."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise MappingFileInvalid(
            [
                (
                    0,
                    f"the file is {len(data):,} bytes; the limit is "
                    f"{max_bytes:,} bytes ({max_rows:,} rows): split it into "
                    "several plans",
                )
            ]
        )
    text = _decode(data)
    numbered = [(n, r) for n, r in _rows(text) if any(c.strip() for c in r)]
    if not numbered:
        raise MappingFileInvalid(
            [
                (
                    0,
                    "the file is empty; the first line must be the header "
                    + " or ".join(repr(h) for h in HEADERS),
                )
            ]
        )
    header_line, header = numbered[0]
    key = _key_from_header(header_line, header)
    columns = len(header)
    body = numbered[1:]
    if len(body) > max_rows:
        raise MappingFileInvalid(
            [
                (
                    0,
                    f"the file has {len(body):,} rows; the limit is "
                    f"{max_rows:,}: split it into several plans",
                )
            ]
        )
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for n, row in body:
        if columns > 2 and len(row) == columns and row[0].strip() and not row[1].strip():
            continue  # a row of the downloaded list left unfilled: that id stays
        text = _row_problem(row[:2] if columns > 2 and len(row) == columns else row, key)
        if not text:
            root, vault = _unquoted(row[0].strip()), row[1].strip()
            if root in mapping and mapping[root] != vault:
                text = (
                    f"{key} {ids.shown(root)} is mapped to {ids.shown(mapping[root])} on "
                    f"line {lines[root]} and to {ids.shown(vault)} here: one id can go to "
                    "one vault only"
                )
            elif root not in mapping:
                mapping[root], lines[root] = vault, n
        if text:
            problems.append((n, text))
    if problems:
        note = ("Vault ids: " + ids.RULE_TEXT) if any("vault id" in t for _, t in problems) else ""
        raise MappingFileInvalid(problems[:MAX_PROBLEMS], total=len(problems), note=note)
    if not mapping:
        raise MappingFileInvalid(
            [
                (
                    0,
                    "the file has a header but no mapping rows: fill in the vault_id of each id to move",
                )
            ]
        )
    return key, mapping, lines


def _rows(text):
    """(line number, cells) per CSV row; a quoted field may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise MappingFileInvalid([(reader.line_num, f"not readable as CSV ({exc})")]) from None


def _decode(data):
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MappingFileInvalid(
            [
                (
                    line,
                    f"byte {data[exc.start]:#04x} is not UTF-8: save the "
                    "file as UTF-8 (in a spreadsheet: CSV UTF-8)",
                )
            ]
        ) from None


def _key_from_header(n, header):
    cells = [c.strip().lower() for c in header]
    for key in KEYS:
        if cells[:2] == [key, "vault_id"] and all(cells[2:]):
            return key
    got = ",".join(c.strip() for c in header)
    raise MappingFileInvalid(
        [
            (
                n,
                f"the header is {ids.shown(got)}; it must be exactly "
                + " or ".join(repr(h) for h in HEADERS)
                + " (two columns: the root id, then the vault id)",
            )
        ]
    )


def _unquoted(root):
    """An id a spreadsheet-safe export wrote as '=… (a leading quote keeps a cell from running
    as a formula) is read back as the id itself."""
    return root[1:] if root[:1] == "'" and root[1:2] in ("=", "+", "-", "@") else root


def _row_problem(row, key):
    if len(row) != 2:
        return f"expected 2 columns ({key}, vault_id), found {len(row)}"
    root, vault = row[0].strip(), row[1].strip()
    if not root:
        return f"the {key} is empty"
    why = ids.problem(vault)
    if why:
        return f"vault id {ids.shown(vault)} is not valid: {why}"
    return ""
