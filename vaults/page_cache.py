"""What each web process keeps a few seconds so that a page under load does not open the
multi-GB file for every request: the page report (never a count: those come from the
background read) and the Remap page's owner columns. Keyed by the file's schema cookie and
the read the counts came from, so a migration or a new read is seen at once.
"""

import time

from django.db.models.fields.json import KT

from metamorph import inspect, remap, report
from metamorph.connection import check_file, schema_cookie
from vaults.models import Snapshot


def light(queryset):
    """Snapshot rows without their payload (hundreds of kB of counts on a big file), with the
    read's duration the pages show."""
    return queryset.defer("payload").annotate(read_seconds=KT("payload__seconds"))


# Under load every page asks for the same report many times a second. Schema, index health
# and checks only change with the schema or the cached read, so each web process keeps the
# report a few seconds (keyed by the read it used) instead of opening the multi-GB file for
# every request; what moves each moment (size, last write, locks) is read live. Never a count.
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


def cached_report(db_path, snap):
    """The page report for `db_path` with the counts of `snap` (pending without one)."""
    check_file(db_path)  # a file gone or replaced since the cached report: its clear error
    key = (
        db_path,
        schema_cookie(db_path),
        snap.id if snap else None,
        snap.state if snap else None,
        snap.phase if snap else None,
    )
    now = time.monotonic()
    hit = _REPORTS.get(key)
    if hit is None or hit[0] < now:
        payload = (
            Snapshot.objects.values_list("payload", flat=True).get(id=snap.id) if snap else {}
        ) or {}
        built = report.build_report(
            db_path,
            counts=payload.get("counts"),
            integrity=payload.get("integrity"),
            sizes=payload.get("sizes"),
            isolation=payload.get("isolation"),
            live_counts=False,
        )
        if len(_REPORTS) > 32:
            _REPORTS.clear()
        hit = _REPORTS[key] = (now + REPORT_CACHE_SECONDS, built)
    cached = hit[1]
    return dict(cached, health=dict(cached["health"], **inspect.file_facts(db_path)))


OWNER_SOURCES_CACHE_SECONDS = 60.0
_OWNER_SOURCES: dict[tuple, tuple[float, list]] = {}


def owner_sources(db_path, source):
    """The owner columns and metadata keys the Remap page offers (sampled from the file: tens
    of ms on 1 GB), kept a minute per process and schema."""
    key = (db_path, source, schema_cookie(db_path))
    now = time.monotonic()
    hit = _OWNER_SOURCES.get(key)
    if hit is None or hit[0] < now:
        if len(_OWNER_SOURCES) > 32:
            _OWNER_SOURCES.clear()
        hit = _OWNER_SOURCES[key] = (
            now + OWNER_SOURCES_CACHE_SECONDS,
            remap.discover_owner_sources(db_path, source),
        )
    return hit[1]
