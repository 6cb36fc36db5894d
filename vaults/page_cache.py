"""The page report the pages render, from the shapes the background read stored (the web
process never opens the Metamorph file: the read runs on the database's agent). Each web
process keeps the assembled report a few seconds, keyed by the reads it came from.
"""

import time

from django.db.models.fields.json import KT

from metamorph import checks
from metamorph.errors import MetamorphError
from vaults.models import Snapshot

# What a heartbeat brings that moves each moment, laid over the stored report's health.
LIVE_KEYS = ("size_bytes", "modified_at", "wal_size_bytes", "lock")


class FileProblem(MetamorphError):
    """What the database's agent found wrong with the file (gone, empty, not SQLite…)."""


class NoReadYet(MetamorphError):
    """No background read of this database has stored a page report yet."""


def light(queryset):
    """Snapshot rows without their payload (hundreds of kB of counts on a big file), with the
    read's duration the pages show."""
    return queryset.defer("payload").annotate(read_seconds=KT("payload__seconds"))


REPORT_CACHE_SECONDS = 5.0
_REPORTS: dict[tuple, tuple[float, dict]] = {}


def counts_snapshot(db_path):
    """The newest finished read, else a running one whose counts are already in (its payload
    is not loaded here: it is read once per cached report)."""
    rows = light(Snapshot.objects.filter(db_path=db_path))
    return (
        rows.filter(state=Snapshot.State.DONE).first()
        or rows.filter(state=Snapshot.State.RUNNING, payload__has_key="counts").first()
    )


def report_snapshot(db_path):
    """The newest read (finished or running) that stored the page report, with the schema
    cookie it was read at."""
    return (
        light(Snapshot.objects.filter(db_path=db_path, payload__has_key="report"))
        .filter(state__in=[Snapshot.State.DONE, Snapshot.State.RUNNING])
        .annotate(cookie=KT("payload__schema_cookie"))
        .first()
    )


def _payload(snap):
    return (
        Snapshot.objects.values_list("payload", flat=True).get(id=snap.id) if snap else {}
    ) or {}


def _assemble(shaped, snap):
    payload = _payload(shaped)
    built = dict(payload["report"])
    counted = payload if snap and snap.id == shaped.id else _payload(snap)
    if counted.get("counts"):
        for part in ("counts", "integrity", "sizes", "isolation"):
            built[part] = counted.get(part)
    built["checks"] = checks.run_checks(built)
    return built


def cached_report(db_path, snap, live):
    """The page report of `db_path` with the counts of `snap` (pending without one) and the
    live facts of the agent's newest heartbeat (`live`, agents.LiveFacts)."""
    if live.problem:
        raise FileProblem(live.problem)
    shaped = report_snapshot(db_path)
    if shaped is None:
        raise NoReadYet(f"No background read of {db_path} has stored a report yet.")
    key = (
        db_path,
        shaped.id,
        shaped.state,
        shaped.phase,
        snap.id if snap else None,
        snap.state if snap else None,
        snap.phase if snap else None,
    )
    now = time.monotonic()
    hit = _REPORTS.get(key)
    if hit is None or hit[0] < now:
        if len(_REPORTS) > 32:
            _REPORTS.clear()
        hit = _REPORTS[key] = (now + REPORT_CACHE_SECONDS, _assemble(shaped, snap))
    cached = hit[1]
    fresh = {k: live.facts[k] for k in LIVE_KEYS if k in (live.facts or {})}
    return dict(cached, health=dict(cached["health"], **fresh), read_cookie=shaped.cookie)
