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
from typing import Any

TIMEOUT = 5.0
MAX_BODY = 8 * 1024 * 1024
MEMORY_LIMIT = 500  # the server's own default page of /api/memories


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
        return Answer(exc.code, _json(exc.read(MAX_BODY)))
    except TimeoutError:
        return Answer(None, problem=f"no answer within {timeout:g} s (time-out)")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return Answer(None, problem=f"no answer within {timeout:g} s (time-out)")
        return Answer(None, problem=f"could not connect ({reason})")
    except (OSError, ValueError) as exc:
        return Answer(None, problem=f"could not connect ({exc})")


def _json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _no_answer(url, path, answer):
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


def _code(answer):
    return answer.body.get("code") if isinstance(answer.body, dict) else None


def check_dev_mode_off(url, timeout=TIMEOUT):
    """Production: GET /api/sessions without credentials must answer 401 MISSING_TOKEN."""
    answer = get(url, "/api/sessions", timeout=timeout)
    if answer.status is None:
        return _no_answer(url, "/api/sessions", answer)
    if answer.status == 401 and _code(answer) == "MISSING_TOKEN":
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
    """The Phase 1 curl check of the migration guide: two X-Vault-Id headers; the same answer
    means dev mode,
    where the server ignores the header and isolation cannot be seen through the API."""
    a = get(url, "/api/sessions", {"X-Vault-Id": "metamorph-admin-probe-a"}, timeout)
    b = get(url, "/api/sessions", {"X-Vault-Id": "metamorph-admin-probe-b"}, timeout)
    for answer in (a, b):
        if answer.status is None:
            return _no_answer(url, "/api/sessions", answer)
    if a.status == 401 and _code(a) == "MISSING_TOKEN":
        return LiveFinding(
            "info",
            "The server wants a bearer token (dev mode is off): check "
            "isolation with two vaults' tokens instead.",
            {"HTTP status": 401},
        )
    if a.status == 200 and b.status == 200 and a.body == b.body:
        return LiveFinding(
            "info",
            "Dev mode: two different X-Vault-Id headers got the same "
            "answer, so the server ignores the header (every request is "
            "dev-vault). This API check cannot show isolation: the "
            "database's isolation audit is the evidence.",
            {
                "X-Vault-Id headers sent": 2,
                "distinct answers": 1,
                "sessions seen": _count(a.body, "sessions"),
            },
        )
    return LiveFinding(
        "fail",
        f"Two X-Vault-Id requests answered {a.status} and {b.status} "
        "with different bodies: not the behaviour of Metamorph's dev mode"
        " (§8). Check which server this URL reaches.",
        {"distinct answers": 2},
    )


def _count(body, key):
    items = body.get(key) if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 0


def _short(body):
    text = json.dumps(body) if body is not None else "(no JSON body)"
    return text[:120]


def ids_seen(url, token, timeout=TIMEOUT):
    """({"sessions": [ids], "memories": [ids]}, problem) as the token's vault sees them."""
    headers = {"Authorization": f"Bearer {token}"}
    seen = {}
    for key, path in (
        ("sessions", "/api/sessions"),
        ("memories", f"/api/memories?limit={MEMORY_LIMIT}"),
    ):
        answer = get(url, path, headers, timeout)
        if answer.status is None:
            return None, f"GET {path}: {answer.problem}"
        if answer.status != 200:
            code = _code(answer) or ""
            return None, f"GET {path} answered {answer.status} {code}".rstrip() + (
                ": the token was refused" if answer.status == 401 else ""
            )
        items = answer.body.get(key) if isinstance(answer.body, dict) else None
        if not isinstance(items, list):
            return None, f"GET {path} answered without a {key!r} list"
        seen[key] = [str(i["id"]) for i in items if isinstance(i, dict) and "id" in i]
    return seen, ""


def check_isolation(url, tokens, vaults_of_ids, timeout=TIMEOUT):
    """Two tokens; each must see only ids the database holds in one vault, not the other's.

    `vaults_of_ids(kind, ids)` answers {id: vault} from the database (kind sessions|memories).
    """
    views = []
    for n, token in enumerate(tokens, 1):
        seen, problem = ids_seen(url, token, timeout)
        if seen is None:
            return LiveFinding("fail", f"Token {n}: {problem}.")
        views.append(seen)
    numbers: dict[str, Any] = {}
    details: list[str] = []
    vaults = [
        _vaults_seen(n, seen, vaults_of_ids, numbers, details) for n, seen in enumerate(views, 1)
    ]
    shared = vaults[0] & vaults[1]
    if shared:
        details.append("both tokens see rows of " + ", ".join(sorted(shared)))
    for n, seen_vaults in enumerate(vaults, 1):
        numbers[f"token {n} vaults"] = ", ".join(sorted(seen_vaults)) or "none"
    if details:
        return LiveFinding(
            "fail", "Isolation broken or unproven: " + "; ".join(details[:3]), numbers, details
        )
    if not vaults[0] or not vaults[1]:
        return LiveFinding(
            "fail",
            "A token saw no sessions or memories: isolation cannot be "
            "shown with an empty vault. Use tokens of two vaults that "
            "hold data.",
            numbers,
        )
    return LiveFinding(
        "pass",
        "Each token saw only its own vault's sessions and memories, "
        "all held by the database in that vault.",
        numbers,
    )


def _vaults_seen(n, seen, vaults_of_ids, numbers, details):
    """The vaults whose rows token `n` saw; ids the database lacks and mixed vaults go to
    `details`, counts to `numbers`."""
    found: dict[str, Any] = {}
    for kind, ids in seen.items():
        known = vaults_of_ids(kind, ids)
        missing = [i for i in ids if i not in known]
        if missing:
            details.append(
                f"token {n}: {len(missing)} {kind} id(s) the database does not "
                f"hold, e.g. {missing[0]!r} (is this the server of this file?)"
            )
        for i in ids:
            if i in known:
                found[known[i]] = found.get(known[i], 0) + 1
        numbers[f"token {n} {kind}"] = len(ids)
    if len(found) > 1:
        details.append(
            f"token {n} sees rows of {len(found)} vaults: "
            + ", ".join(f"{v} ({c})" for v, c in sorted(found.items()))
        )
    return set(found)
