"""Identifiers shown safely: a vault id (or any text read from a Metamorph file) with control,
bidi-override, zero-width or line-separator characters is written with those characters
escaped (`\\x1b`, `\\u202e`), so it cannot reorder a page or a terminal line, hide itself,
run terminal sequences or break a metrics scrape. Stored values are never changed."""

import functools
import unicodedata

# Cc control, Cf format (bidi overrides and isolates, zero-width, BOM), Zl/Zp separators, Cs
# lone surrogates (bytes that were not UTF-8).
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escape(code):
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@functools.cache
def _escapes(keep, ascii_only=False):
    """Every unsafe code point but those in `keep`, and its escape; built on first use (not at
    import: commands start fast). Beyond the BMP only the tag characters are format ones.
    `ascii_only`: the table for text that is all ASCII (33 controls; the whole one takes ~30 ms
    to build, a noticeable part of a short command's run)."""
    if ascii_only:
        codes = [c for c in range(0x80) if unicodedata.category(chr(c)) in _UNSAFE_CATEGORIES]
    else:
        codes = [c for c in range(0x10000) if unicodedata.category(chr(c)) in _UNSAFE_CATEGORIES]
        codes += [c for c in range(0xE0000, 0xE0080) if unicodedata.category(chr(c)) == "Cf"]
    table = {c: _escape(c) for c in codes if chr(c) not in keep}
    table.update({ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"})
    for ch in keep:
        table.pop(ord(ch), None)
    return table


def shown(text, keep=""):
    """`text` with every unsafe character escaped (one line: tabs and newlines too), except
    those in `keep` (e.g. "\\t\\n" for a block of terminal output)."""
    text = str(text)
    return text.translate(_escapes(keep, text.isascii()))


def shown_lines(text):
    """Like shown(), keeping tabs and newlines (a block of terminal output or a document)."""
    return shown(text, "\t\n")
