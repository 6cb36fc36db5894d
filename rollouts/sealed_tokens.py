"""The two bearer tokens pasted for a live isolation check travel to the database's agent
sealed: encrypted and authenticated with keys derived from SECRET_KEY (the agent runs with the
same one), and erased from the read by the agent as soon as it has opened them. Nothing else
ever holds them: not a log, not the item, not the report (scrub.py)."""

import base64
import hashlib
import hmac
import json
import secrets

from django.conf import settings

from metamorph.errors import MetamorphError

NONCE_BYTES = 16
TAG_BYTES = 32


class TokensUnreadable(MetamorphError):
    """The sealed tokens were changed, or sealed under another SECRET_KEY."""


def _key(purpose: bytes) -> bytes:
    return hmac.new(
        settings.SECRET_KEY.encode(), b"metamorph-admin live-check tokens/" + purpose, "sha256"
    ).digest()


def _keystream(nonce: bytes, length: int) -> bytes:
    # HMAC-SHA256 as a pseudo-random function in counter mode (stdlib only).
    key, out, counter = _key(b"encrypt"), bytearray(), 0
    while len(out) < length:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:length])


def _tag(nonce: bytes, sealed: bytes) -> bytes:
    return hmac.new(_key(b"authenticate"), nonce + sealed, hashlib.sha256).digest()


def seal(tokens) -> str:
    plain = json.dumps(list(tokens)).encode()
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = bytes(a ^ b for a, b in zip(plain, _keystream(nonce, len(plain)), strict=True))
    return base64.urlsafe_b64encode(nonce + _tag(nonce, sealed) + sealed).decode()


def unseal(text: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        raw = b""
    nonce, tag, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES : NONCE_BYTES + TAG_BYTES], raw[48:]
    if len(nonce) < NONCE_BYTES or not hmac.compare_digest(tag, _tag(nonce, sealed)):
        raise TokensUnreadable(
            "The pasted tokens could not be opened by the agent (its SECRET_KEY differs from "
            "the dashboard's?): give both the same SECRET_KEY, then paste the tokens again."
        )
    plain = bytes(a ^ b for a, b in zip(sealed, _keystream(nonce, len(sealed)), strict=True))
    return tuple(json.loads(plain))
