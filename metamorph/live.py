"""Checks against a running Metamorph server's HTTP API, standard library only.

Metamorph answers GET /api/health without credentials; every other /api route wants
`Authorization: Bearer …` (401 MISSING_TOKEN without it) unless EMBLEM_DEV_MODE=true, where
every request is vault dev-vault and the X-Vault-Id header is ignored.

Every check returns a LiveFinding: a time-out, a refused connection, a TLS error or an answer
that is not Metamorph's are findings ("fail" with what happened), never exceptions. Bearer
tokens are used for the one request they are given to and appear in no finding or message.
"""

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

TIMEOUT = 5.0
MAX_BODY = 8 * 1024 * 1024


@dataclass
class LiveFinding:
    status: str  # pass | fail | info
    summary: str
    numbers: dict = field(default_factory=dict)
    details: list = field(default_factory=list)

    def to_dict(self):
        return {
            "status": self.status,
            "summary": self.summary,
            "numbers": self.numbers,
            "details": self.details,
        }


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer at all
    body: object = None  # parsed JSON, or None
    problem: str = ""  # why there was no usable answer
    timed_out_after: float | None = None  # seconds, when the server did not answer in time


def _timed_out(timeout):
    return Answer(None, problem=f"timed out after {timeout:g} s", timed_out_after=timeout)


def valid_base_url(url):
    """The URL without a trailing slash, or ValueError saying what a usable one looks like."""
    parsed = urllib.parse.urlsplit((url or "").strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"{url!r} is not an http(s) URL of a Metamorph server "
            "(e.g. https://metamorph.example.com)."
        )
    if parsed.username or parsed.password:
        raise ValueError(
            "Leave credentials out of the server URL: it is stored and shown. "
            "Tokens are pasted for the one check that needs them."
        )
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


def get(base_url, path, headers=None, timeout=TIMEOUT):
    """GET base_url+path; an Answer whatever happens on the network."""
    request = urllib.request.Request(
        base_url + path,
        headers={"Accept": "application/json", "User-Agent": "metamorph-admin", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, _json(response.read(MAX_BODY)))
    except urllib.error.HTTPError as exc:
        try:
            return Answer(exc.code, _json(exc.read(MAX_BODY)))
        except TimeoutError:
            return _timed_out(timeout)
    except TimeoutError:
        return _timed_out(timeout)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return _timed_out(timeout)
        return Answer(None, problem=f"could not connect ({reason})")
    except (OSError, ValueError) as exc:
        return Answer(None, problem=f"could not connect ({exc})")


def _json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _no_answer(url, path, answer):
    if answer.timed_out_after is not None:
        return LiveFinding(
            "fail",
            f"GET {url}{path} {answer.problem}. A slow server is not a broken one: "
            "Metamorph's /api/sessions reads every session file and takes 5-42 s at "
            "~14,000 sessions. Raise METAMORPH_LIVE_TIMEOUT_SECONDS, or check that the "
            "server runs and that this machine may reach it.",
            {"timed out after (s)": answer.timed_out_after},
        )
    return LiveFinding(
        "fail",
        f"GET {url}{path}: {answer.problem}. Check the URL, that the "
        "server runs and that this machine may reach it.",
    )


def check_health(url, timeout=TIMEOUT):
    """Reachable: GET /api/health answers 200 {"status": "ok"}."""
    answer = get(url, "/api/health", timeout=timeout)
    if answer.status is None:
        return _no_answer(url, "/api/health", answer)
    ok = (
        answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("status") == "ok"
    )
    if ok:
        return LiveFinding(
            "pass", f"{url}/api/health answered 200 status ok.", {"HTTP status": 200}
        )
    return LiveFinding(
        "fail",
        f"{url}/api/health answered {answer.status} "
        f"{_short(answer.body)}: not a healthy Metamorph server.",
        {"HTTP status": answer.status},
    )


def error_code(answer):
    return answer.body.get("code") if isinstance(answer.body, dict) else None


def check_dev_mode_off(url, timeout=TIMEOUT):
    """Production: GET /api/sessions without credentials must answer 401 MISSING_TOKEN."""
    answer = get(url, "/api/sessions", timeout=timeout)
    if answer.status is None:
        return _no_answer(url, "/api/sessions", answer)
    if answer.status == 401 and error_code(answer) == "MISSING_TOKEN":
        return LiveFinding(
            "pass",
            "GET /api/sessions without a token answered 401 MISSING_TOKEN: dev mode is off.",
            {"HTTP status": 401, "code": "MISSING_TOKEN"},
        )
    if answer.status == 200:
        return LiveFinding(
            "fail",
            "GET /api/sessions without a token answered 200: the server "
            "runs in dev mode (EMBLEM_DEV_MODE=true) and lets anyone in "
            "as dev-vault. Set EMBLEM_DEV_MODE=false and restart it.",
            {"HTTP status": 200},
        )
    return LiveFinding(
        "fail",
        f"GET /api/sessions without a token answered {answer.status} "
        f"{_short(answer.body)}, not 401 MISSING_TOKEN.",
        {"HTTP status": answer.status},
    )


def detect_dev_mode(url, timeout=TIMEOUT):
    """The Phase 1 curl check of the migration guide: two X-Vault-Id headers, then compare the
    session ids both answers hold. A session belongs to one vault, so one id in both answers
    means both were read from the same vault: the header is ignored (dev mode). Sessions that
    clients create between the two requests add ids to one answer and change nothing here,
    where comparing whole bodies would say "different"."""
    a = get(url, "/api/sessions", {"X-Vault-Id": "metamorph-admin-probe-a"}, timeout)
    b = get(url, "/api/sessions", {"X-Vault-Id": "metamorph-admin-probe-b"}, timeout)
    for answer in (a, b):
        if answer.status is None:
            return _no_answer(url, "/api/sessions", answer)
    if a.status == 401 and error_code(a) == "MISSING_TOKEN":
        return LiveFinding(
            "info",
            "The server wants a bearer token (dev mode is off): check "
            "isolation with two vaults' tokens instead.",
            {"HTTP status": 401},
        )
    listed_a, listed_b = ids_in(a.body, "sessions"), ids_in(b.body, "sessions")
    if a.status != 200 or b.status != 200 or listed_a is None or listed_b is None:
        return LiveFinding(
            "fail",
            f"Two X-Vault-Id requests answered {a.status} {_short(a.body)} and {b.status} "
            f"{_short(b.body)}: not Metamorph's session list. Check which server this URL reaches.",
            {"HTTP status": f"{a.status}, {b.status}"},
        )
    ids_a, ids_b = set(listed_a), set(listed_b)
    common = ids_a & ids_b
    numbers = {
        "X-Vault-Id headers sent": 2,
        "sessions in answer A": len(ids_a),
        "sessions in answer B": len(ids_b),
        "sessions in both": len(common),
    }
    how = (
        "Compared: the session ids both answers hold (a session belongs to one vault, "
        "so sessions created between the two requests do not change the verdict)."
    )
    if common or not (ids_a or ids_b):
        seen = (
            f"{len(common)} session(s) are in both answers"
            if common
            else "both answers are empty lists although no token was sent"
        )
        return LiveFinding(
            "info",
            f"Dev mode: the server answered without a token and {seen}, so it ignores the "
            "X-Vault-Id header (every request is dev-vault). This API check cannot show "
            "isolation: the database's isolation audit is the evidence.",
            numbers,
            [how],
        )
    return LiveFinding(
        "fail",
        "Two X-Vault-Id requests answered with no session in common: the server scoped "
        "them by the header, which is not the behaviour of Metamorph's dev mode (§8). "
        "Check which server this URL reaches.",
        numbers,
        [how],
    )


def ids_in(body, key):
    """The ids in the list `key` of a JSON answer (`sessions`, `memories`), or None when the
    answer has no such list."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    return [str(i["id"]) for i in items if isinstance(i, dict) and "id" in i]


def _short(body):
    text = json.dumps(body) if body is not None else "(no JSON body)"
    return text[:120]
