"""Gatherers that ask the Metamorph server (its URL on the rollout): health, dev mode, and
isolation with two pasted tokens checked against the database's own ids."""

from metamorph import live, rollout_evidence
from rollouts.evidence import Outcome


def _live(finding):
    return Outcome(
        finding.status,
        finding.summary,
        finding.numbers,
        [{"label": "detail", "text": d} for d in finding.details[:10]],
    )


def _needs_url(t):
    return Outcome(
        "fail",
        f"No Metamorph server URL is given for {t.name}: add it to the "
        "rollout, or attest this item with a note.",
    )


def live_health(t):
    return _live(live.check_health(t.url)) if t.url else _needs_url(t)


def live_dev_mode_off(t):
    return _live(live.check_dev_mode_off(t.url)) if t.url else _needs_url(t)


def live_dev_mode(t):
    if not t.url:
        return _needs_url(t)
    outcome = _live(live.detect_dev_mode(t.url))
    if "Dev mode" in outcome.summary:
        outcome.evidence.append(
            {"label": "Isolation audit of the database", "url": t.page("vaults:remap")}
        )
    return outcome


def live_isolation(t):
    if not t.url:
        return _needs_url(t)
    if len(t.tokens) != 2 or not all(t.tokens):
        return Outcome(
            "fail",
            "Paste two bearer tokens of two different vaults to run this "
            "check (they are used once, never stored).",
        )
    return _live(
        live.check_isolation(
            t.url, t.tokens, lambda kind, ids: rollout_evidence.vaults_of_ids(t.path, kind, ids)
        )
    )
