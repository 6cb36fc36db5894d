"""Vault ids we write: 1–128 letters, digits and - _ . @ (schema file §6).

Ids already in the database are never rejected on read: `shown()` escapes them for
pages and reports. Ids we are about to write go through `validate_vault_id()`.
"""

import re

from ..errors import InvalidVaultId

MAX_LENGTH = 128
RULE_TEXT = (
    "a vault id is 1–128 characters from letters (A–Z, a–z), digits and - _ . @. "
    "':' is refused because Metamorph builds session keys as <vault>:<session>, so a "
    "':' inside a vault id makes those keys ambiguous"
)


# Metamorph's id rules for ids we write (schema file §6); fullmatch, so no trailing newline.
VAULT_ID_RULE = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


def shown(value, limit=80):
    """An id as an operator may safely see it: repr-escaped, bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_valid_vault_id(value):
    return isinstance(value, str) and VAULT_ID_RULE.fullmatch(value) is not None


def problem(value):
    """Why `value` is not a vault id we may write, or '' when it is one."""
    if not isinstance(value, str):
        return f"{shown(value)} is not text"
    if not value:
        return "it is empty"
    if len(value) > MAX_LENGTH:
        return f"it has {len(value)} characters (at most {MAX_LENGTH})"
    bad = sorted({c for c in value if not VAULT_ID_RULE.fullmatch(c)})
    if bad:
        if ":" in bad:
            return "it contains ':'"
        return "it contains " + ", ".join(shown(c) for c in bad[:5])
    return ""


def validate_vault_id(value, what="vault id"):
    """Return `value` if we may write it, else raise InvalidVaultId explaining the rule."""
    why = problem(value)
    if why:
        raise InvalidVaultId(
            f"The {what} {shown(value)} cannot be used: {why}. "
            f"Nothing was changed. Rule: {RULE_TEXT}."
        )
    return value
