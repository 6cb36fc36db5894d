"""Live checks that compare what a Metamorph server returns with the file: is this server
reading this file, and does each token see only its own vault?

Facts of the real server (feature/multitenancy) these checks must report truthfully: it opens
./data/metamorph.db under its working directory and ignores DATABASE_PATH, so a healthy server
may be reading another (often empty) file; /api/sessions lists JSON files under ./data/sessions,
not the database, so session ids say nothing about the file; /api/memories reads the database,
and each request to it makes the server write a session file.
"""

from typing import Any, Protocol

from .live import TIMEOUT, LiveFinding, check_health, error_code, get, ids_in

MEMORY_LIMIT = 500  # the server's own default page of /api/memories
MEMORIES_PATH = f"/api/memories?limit={MEMORY_LIMIT}"
# The vaults a server reads memories from without a token: Metamorph's /api/memories reads
# default-vault, a dev-mode server's requests are dev-vault.
UNAUTHENTICATED_VAULTS = ("default-vault", "dev-vault")
WRITES_NOTE = (
    "GET /api/memories makes this Metamorph build write a session file (./data/sessions/) "
    "for each request: this check is not read-only on the server. /api/health and "
    "/api/sessions do not write."
)
NOT_THIS_FILE = (
    "Metamorph opens ./data/metamorph.db under its working directory and ignores "
    "DATABASE_PATH: start it from the directory whose data/metamorph.db is this file."
)


class FileView(Protocol):
    """What the live checks read from the file (read-only)."""

    def vaults_of_ids(self, kind: str, ids: list[str]) -> dict[str, str]: ...

    def memories_in(self, vaults: tuple[str, ...]) -> int: ...


def file_disagreement(ids: list[str], file: FileView, who: str) -> str:
    """ "" when the memories a server returned are the file's, else what differs."""
    if not ids:
        held = file.memories_in(UNAUTHENTICATED_VAULTS)
        if held and who == "the server":
            return (
                f"this server is not reading this file: it returned no memories, the file "
                f"holds {held:,} in {' / '.join(UNAUTHENTICATED_VAULTS)}. {NOT_THIS_FILE}"
            )
        return ""
    known = file.vaults_of_ids("memories", ids)
    if not known:
        return (
            f"this server is not reading this file: none of the {len(ids):,} memories "
            f"{who} got are in it. {NOT_THIS_FILE}"
        )
    if len(known) < len(ids):
        return (
            f"this server is not reading this file alone: {len(ids) - len(known):,} of the "
            f"{len(ids):,} memories {who} got are not in it. {NOT_THIS_FILE}"
        )
    return ""


def check_health_and_file(url, file: FileView | None, timeout=TIMEOUT) -> LiveFinding:
    """Healthy, and reading this file: the memories it returns without a token are the file's."""
    health = check_health(url, timeout)
    if health.status != "pass" or file is None:
        return health
    answer = get(url, MEMORIES_PATH, timeout=timeout)
    ids = ids_in(answer.body, "memories") if answer.status == 200 else None
    if ids is None:
        why = (
            "the server wants a token (dev mode off): the isolation check compares what "
            "two tokens see with the file"
            if answer.status == 401
            else f"GET {MEMORIES_PATH} gave {answer.status or answer.problem}"
        )
        health.details.append(f"Not compared with the file: {why}.")
        return health
    problem = file_disagreement(ids, file, "the server")
    numbers = {**health.numbers, "memories returned": len(ids)}
    if problem:
        return LiveFinding(
            "fail", f"{url}/api/health answered ok, but {problem}", numbers, [WRITES_NOTE]
        )
    return LiveFinding(
        "pass",
        f"{url}/api/health answered ok and the {len(ids):,} memories it returned without "
        "a token are all in this file.",
        numbers,
        [WRITES_NOTE],
    )


def ids_seen(url, token, timeout=TIMEOUT):
    """({"sessions": [ids], "memories": [ids]}, problem) as the token's vault sees them."""
    headers = {"Authorization": f"Bearer {token}"}
    seen = {}
    for key, path in (("sessions", "/api/sessions"), ("memories", MEMORIES_PATH)):
        answer = get(url, path, headers, timeout)
        if answer.status is None:
            return None, f"GET {path} {answer.problem}"
        if answer.status != 200:
            code = error_code(answer) or ""
            return None, f"GET {path} answered {answer.status} {code}".rstrip() + (
                ": the token was refused" if answer.status == 401 else ""
            )
        ids = ids_in(answer.body, key)
        if ids is None:
            return None, f"GET {path} answered without a {key!r} list"
        seen[key] = ids
    return seen, ""


def check_isolation(url, tokens, file: FileView, timeout=TIMEOUT) -> LiveFinding:
    """Two tokens; each must see only rows of one vault of this file, not the other's.

    Leads with what the tokens saw (the same rows for both: the server does not scope by the
    token), then whether the server reads this file, then how the file places the rows."""
    views = []
    for n, token in enumerate(tokens, 1):
        seen, problem = ids_seen(url, token, timeout)
        if seen is None:
            return LiveFinding("fail", f"Token {n}: {problem}.")
        views.append(seen)
    numbers: dict[str, Any] = {}
    causes: list[str] = _same_for_both(views, file)
    notes: list[str] = [WRITES_NOTE]
    for n, seen in enumerate(views, 1):
        problem = file_disagreement(seen["memories"], file, f"token {n}")
        if problem:
            causes.append(problem)
            break
    vaults = [
        _vaults_seen(n, seen, file, numbers, causes, notes) for n, seen in enumerate(views, 1)
    ]
    shared = vaults[0] & vaults[1]
    if shared:
        causes.append("both tokens see rows of " + ", ".join(sorted(shared)))
    for n, seen_vaults in enumerate(vaults, 1):
        numbers[f"token {n} vaults"] = ", ".join(sorted(seen_vaults)) or "none"
    if causes:
        return LiveFinding(
            "fail",
            "Isolation broken or unproven: " + "; ".join(causes[:2]),
            numbers,
            causes + notes,
        )
    if not vaults[0] or not vaults[1]:
        return LiveFinding(
            "fail",
            "A token saw no sessions or memories: isolation cannot be "
            "shown with an empty vault. Use tokens of two vaults that "
            "hold data.",
            numbers,
            notes,
        )
    return LiveFinding(
        "pass",
        "Each token saw only its own vault's sessions and memories, "
        "all held by the database in that vault.",
        numbers,
        notes,
    )


def _same_for_both(views, file: FileView) -> list[str]:
    """The strongest evidence first: both tokens were given the very same rows."""
    causes = []
    for kind in ("memories", "sessions"):
        a, b = set(views[0][kind]), set(views[1][kind])
        if a and a == b:
            placed = set(file.vaults_of_ids(kind, sorted(a)).values())
            where = f", all in {placed.pop()}" if len(placed) == 1 else ""
            causes.append(
                f"both tokens got the same {len(a):,} {kind}{where}: the server does not "
                "scope reads by the token's vault"
            )
    return causes


def _vaults_seen(n, seen, file: FileView, numbers, causes, notes):
    """The vaults whose rows token `n` saw. Sessions the file lacks are a note (this build
    keeps sessions in JSON files); rows of several vaults are a cause."""
    found: dict[str, int] = {}
    for kind, ids in seen.items():
        known = file.vaults_of_ids(kind, ids)
        missing = [i for i in ids if i not in known]
        if missing and kind == "sessions":
            notes.append(
                f"token {n}: {len(missing):,} session id(s) are not in the file, e.g. "
                f"{missing[0]!r}: this Metamorph build lists sessions from JSON files under "
                "./data/sessions, so they are not evidence about the file"
            )
        for i in ids:
            if i in known:
                found[known[i]] = found.get(known[i], 0) + 1
        numbers[f"token {n} {kind}"] = len(ids)
    if len(found) > 1:
        causes.append(
            f"token {n} sees rows of {len(found)} vaults: "
            + ", ".join(f"{v} ({c:,})" for v, c in sorted(found.items()))
        )
    return set(found)
