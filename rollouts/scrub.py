"""Secrets out of what a live check keeps: the pasted tokens and anything shaped like a JWT are
replaced before an answer is stored, shown, audited or exported.

A server may echo a token back (as a session id, in an error message, in a header the check
quotes): the check's outcome is scrubbed once, where it is stored, so every later reader — the
item, its event, the audit record, the flash message, each report format — sees it clean.
"""

import re
import urllib.parse
from dataclasses import replace

REDACTED = "[redacted]"
# header.payload.signature, each base64url; the header of every JWT starts {" = "eyJ".
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?")
BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def _variants(tokens):
    """Each secret as written and as a URL or JSON would carry it, longest first."""
    found = set()
    for token in tokens:
        token = (token or "").strip()
        if len(token) >= 4:
            found |= {token, urllib.parse.quote(token, safe=""), urllib.parse.quote_plus(token)}
    return sorted(found, key=len, reverse=True)


def scrub_text(text, tokens=()):
    """`text` without the tokens, bearer credentials or JWT-shaped strings."""
    for secret in _variants(tokens):
        text = text.replace(secret, REDACTED)
    text = BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return JWT.sub(REDACTED, text)


def scrub(value, tokens=()):
    """A copy of a JSON-like value (str, list, dict, numbers) with every string scrubbed,
    dictionary keys included."""
    if isinstance(value, str):
        return scrub_text(value, tokens)
    if isinstance(value, dict):
        return {scrub(k, tokens): scrub(v, tokens) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, tokens) for v in value]
    return value


def scrub_outcome(outcome, tokens=()):
    """A gatherer's Outcome with its summary, numbers and evidence scrubbed."""
    return replace(
        outcome,
        summary=scrub_text(outcome.summary, tokens),
        numbers=scrub(outcome.numbers, tokens),
        evidence=scrub(outcome.evidence, tokens),
    )
