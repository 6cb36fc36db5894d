"""Read-side functions the views and commands call."""
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings

from metamorph import inspect, report
from metamorph_admin.models import Job
from vaults.models import Snapshot


def metamorph_path():
    return settings.METAMORPH_DATABASE_PATH


def latest_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return Snapshot.objects.filter(db_path=db_path, kind=kind,
                                   state=Snapshot.State.DONE).first()


def pending_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return Snapshot.objects.filter(
        db_path=db_path, kind=kind,
        state__in=[Snapshot.State.QUEUED, Snapshot.State.RUNNING]).first()


def latest_integrity_job(db_path):
    """The newest full integrity_check job of this file (run from the Health or Jobs page)."""
    return Job.objects.filter(kind="integrity-check", db_path=db_path).order_by("-id").first()


def last_failed_snapshot(db_path):
    last = Snapshot.objects.filter(db_path=db_path).first()
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


def overview(db_path):
    """The report for the pages: counts from the last background read, else a bounded live one."""
    snap = latest_snapshot(db_path)
    payload = snap.payload if snap else {}
    data = report.build_report(db_path, counts=payload.get("counts"),
                               integrity=payload.get("integrity"), sizes=payload.get("sizes"),
                               isolation=payload.get("isolation"),
                               count_seconds=settings.METAMORPH_PAGE_QUERY_SECONDS)
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
