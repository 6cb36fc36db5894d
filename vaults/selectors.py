"""Read-side functions the views and commands call."""
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from django.db.models.fields.json import KT

from metamorph import inspect, remap, report
from metamorph.backup import newest_verified
from metamorph.connection import check_file, schema_cookie
from metamorph_admin.models import Job
from vaults.models import Snapshot


def metamorph_path():
    return settings.METAMORPH_DATABASE_PATH


def _light(queryset):
    """Snapshot rows without their payload (hundreds of kB of counts on a big file), with the
    read's duration the pages show."""
    return queryset.defer("payload").annotate(read_seconds=KT("payload__seconds"))


def latest_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return _light(Snapshot.objects.filter(db_path=db_path, kind=kind,
                                          state=Snapshot.State.DONE)).first()


def pending_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return _light(Snapshot.objects.filter(
        db_path=db_path, kind=kind,
        state__in=[Snapshot.State.QUEUED, Snapshot.State.RUNNING])).first()


def latest_integrity_job(db_path):
    """The newest full integrity_check job of this file (run from the Health or Jobs page)."""
    return Job.objects.for_file(db_path).of_kinds(["integrity-check"]).order_by("-id").first()


def last_failed_snapshot(db_path):
    last = _light(Snapshot.objects.filter(db_path=db_path)).first()
    return last if last and last.state == Snapshot.State.FAILED else None


@dataclass
class Overview:
    """A report plus where its counts came from."""
    report: dict
    snapshot: Snapshot | None
    pending: Snapshot | None
    file_changed: bool

    @property
    def needs_snapshot(self):
        return self.pending is None and (self.snapshot is None or self.file_changed)


# Under load every page asks for the same report many times a second. Schema, index health
# and checks only change with the schema or the cached read, so each web process keeps the
# report a few seconds (keyed by the read it used) instead of opening the multi-GB file for
# every request; what moves each moment (size, last write, locks) is read live. Never a count.
REPORT_CACHE_SECONDS = 5.0
_REPORTS: dict[tuple, tuple[float, dict]] = {}


def counts_snapshot(db_path):
    """The newest finished read, else a running one whose counts are already in (its payload
    is not loaded here: it is read once per cached report)."""
    light = _light(Snapshot.objects.filter(db_path=db_path))
    return (light.filter(state=Snapshot.State.DONE).first()
            or light.filter(state=Snapshot.State.RUNNING, payload__has_key="counts").first())


def cached_report(db_path, snap):
    """The page report for `db_path` with the counts of `snap` (pending without one)."""
    check_file(db_path)  # a file gone or replaced since the cached report: its clear error
    key = (db_path, schema_cookie(db_path), snap.id if snap else None,
           snap.state if snap else None, snap.phase if snap else None)
    now = time.monotonic()
    hit = _REPORTS.get(key)
    if hit is None or hit[0] < now:
        payload = (Snapshot.objects.values_list("payload", flat=True).get(id=snap.id)
                   if snap else {}) or {}
        built = report.build_report(db_path, counts=payload.get("counts"),
                                    integrity=payload.get("integrity"), sizes=payload.get("sizes"),
                                    isolation=payload.get("isolation"), live_counts=False)
        if len(_REPORTS) > 32:
            _REPORTS.clear()
        hit = _REPORTS[key] = (now + REPORT_CACHE_SECONDS, built)
    cached = hit[1]
    return dict(cached, health=dict(cached["health"], **inspect.file_facts(db_path)))


def overview(db_path):
    """The report for the pages: counts from the last background read, else pending (the
    page says "counting…" and the background read fills them in); never a live count."""
    snap = counts_snapshot(db_path)
    data = cached_report(db_path, snap)
    if snap is not None and snap.state != Snapshot.State.DONE:
        snap = None  # early counts of a read still running: the page shows it as pending
    changed = False
    if snap and snap.finished_at:
        mtime = datetime.fromtimestamp(os.stat(db_path).st_mtime, timezone.utc)
        changed = mtime > snap.finished_at
    return Overview(data, snap, pending_snapshot(db_path), changed)


def matrix_rows(counts, query="", offset=0, limit=50):
    """Vault rows of the matrix (largest first), filtered by a substring, one page of them."""
    tables = [t for t, e in counts["tables"].items() if e["state"] == "migrated"]
    vaults = [(v, n) for v, n in counts["vaults"] if query.lower() in v.lower()]
    page = vaults[offset:offset + limit]
    rows = [{"vault": v, "total": n,
             "cells": [counts["tables"][t]["by_vault"].get(v, 0) for t in tables]}
            for v, n in page]
    return {"tables": tables, "rows": rows, "matched": len(vaults),
            "column_totals": [counts["tables"][t].get("total", 0) for t in tables]}


def vault_page(counts, vault):
    rows = inspect.vault_detail(counts, vault)
    total = sum(r["rows"] for r in rows)
    return {"vault": vault, "rows": rows, "total": total,
            "exists": any(v == vault for v, _ in counts["vaults"])}


def _hours(seconds):
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def backup_age_finding(db_path, backup_dir=None):
    """A warning finding when the newest verified backup of `db_path` is older than
    BACKUP_MAX_AGE_HOURS (or there is none); None when fresh enough or the warning is off."""
    limit = settings.BACKUP_MAX_AGE_HOURS
    if not limit:
        return None
    newest = newest_verified(backup_dir or settings.METAMORPH_BACKUP_DIR, source_path=db_path)
    fix = ("Back up now on the Backups page, and schedule `python manage.py backupdb --keep N` "
           "(README: Scheduled backups).")
    if newest is None:
        return {"id": "backup_age", "title": "No verified backup", "status": "warning",
                "detail": "This file has no verified backup in the backup directory.",
                "cause": "No backup was taken, or none was verified.", "fix": fix}
    if newest["age_seconds"] <= limit * 3600:
        return None
    return {"id": "backup_age", "title": "Backup too old", "status": "warning",
            "detail": f"The newest verified backup ({newest['name']}) is "
                      f"{_hours(newest['age_seconds'])} old; the limit is {limit:g} hours "
                      "(BACKUP_MAX_AGE_HOURS).",
            "cause": "Scheduled backups are not running, or failing.", "fix": fix}


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
        hit = _OWNER_SOURCES[key] = (now + OWNER_SOURCES_CACHE_SECONDS,
                                     remap.discover_owner_sources(db_path, source))
    return hit[1]
