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
    """The newest finished background read, when it failed (it then replaces the last good
    one: its figures are stale)."""
    last = Snapshot.objects.filter(
        db_path=db_path, state__in=[Snapshot.State.DONE, Snapshot.State.FAILED]).first()
    return last if last and last.state == Snapshot.State.FAILED else None


def known_file_problem(db_path):
    """What the newest background read or full integrity check found wrong with the file
    (damage, unreadable, checks failing), with when: "" when the newest found nothing."""
    snap = Snapshot.objects.filter(
        db_path=db_path, state__in=[Snapshot.State.DONE, Snapshot.State.FAILED]).first()
    job = Job.objects.filter(kind="integrity-check", db_path=db_path,
                             finished_at__isnull=False).order_by("-finished_at").first()
    found = []
    if snap:
        integrity = (snap.payload or {}).get("integrity") or {}
        if snap.state == Snapshot.State.FAILED:
            found.append((snap.finished_at, f"the background read failed: {snap.error}"))
        elif integrity and not integrity.get("ok", True):
            found.append((snap.finished_at, "quick_check found problems: "
                          + "; ".join(integrity.get("messages", [])[:3])))
        else:
            found.append((snap.finished_at, ""))
    if job:
        result = job.result or {}
        if job.state == Job.State.FAILED:
            found.append((job.finished_at, f"the full integrity_check failed: {job.error}"))
        elif result and not result.get("ok", True):
            found.append((job.finished_at, "integrity_check found problems: "
                          + "; ".join(result.get("messages", [])[:3])))
        else:
            found.append((job.finished_at, ""))
    if not found:
        return ""
    when, problem = max(found, key=lambda f: f[0])
    return f"{when:%Y-%m-%d %H:%M:%S} UTC: {problem}" if problem else ""


@dataclass
class Overview:
    """A report plus where its counts came from."""
    report: dict
    snapshot: Snapshot | None
    pending: Snapshot | None
    file_changed: bool
    failed: Snapshot | None = None   # a background read newer than `snapshot` that failed
    changed_since_failure: bool = False

    @property
    def stale(self):
        """The figures shown come from a read older than a failed one."""
        return self.failed is not None and self.snapshot is not None

    @property
    def needs_snapshot(self):
        if self.pending is not None:
            return False
        if self.failed is not None:  # read again only once the file changed since it failed
            return self.changed_since_failure
        return self.snapshot is None or self.file_changed


def overview(db_path):
    """The report for the pages: counts from the last background read, else a bounded live one."""
    snap = latest_snapshot(db_path)
    failed = last_failed_snapshot(db_path)
    payload = snap.payload if snap else {}
    integrity = payload.get("integrity")
    if failed:
        # A failed read replaces the last good one's "integrity ok": never hide behind it.
        integrity = {"ok": False, "check": "quick_check", "seconds": None, "failed_at":
                     failed.finished_at.isoformat() if failed.finished_at else None,
                     "messages": [f"the background read of {failed.finished_at:%Y-%m-%d %H:%M:%S}"
                                  f" UTC failed: {failed.error}"]}
    data = report.build_report(db_path, counts=payload.get("counts"), integrity=integrity,
                               sizes=payload.get("sizes"), isolation=payload.get("isolation"),
                               count_seconds=settings.METAMORPH_PAGE_QUERY_SECONDS)
    mtime = datetime.fromtimestamp(os.stat(db_path).st_mtime, timezone.utc)
    changed = bool(snap and snap.finished_at and mtime > snap.finished_at)
    after_failure = bool(failed and failed.finished_at and mtime > failed.finished_at)
    return Overview(data, snap, pending_snapshot(db_path), changed, failed, after_failure)


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
