"""Gatherers that ask the Metamorph server (its URL on the rollout): health and whether it
reads this file, dev mode, and isolation with two pasted tokens checked against the file."""

from django.conf import settings

from metamorph import live, live_data, rollout_evidence
from rollouts.evidence import Outcome


def _timeout():
    return settings.METAMORPH_LIVE_TIMEOUT_SECONDS


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
    if not t.url:
        return _needs_url(t)
    file = rollout_evidence.FileIds(t.path)
    return _live(live_data.check_health_and_file(t.url, file, _timeout()))


def live_dev_mode_off(t):
    return _live(live.check_dev_mode_off(t.url, _timeout())) if t.url else _needs_url(t)


def live_dev_mode(t):
    if not t.url:
        return _needs_url(t)
    outcome = _live(live.detect_dev_mode(t.url, _timeout()))
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
    file = rollout_evidence.FileIds(t.path)
    return _live(live_data.check_isolation(t.url, t.tokens, file, _timeout()))
