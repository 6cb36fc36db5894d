"""Read-side functions the views and commands call."""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from metamorph import checks, inspect, schema
from metamorph.backup import newest_verified
from metamorph_admin import agents, backup_mirror, databases, kinds, repository_index
from metamorph_admin.models import Job
from vaults import page_cache
from vaults.models import Snapshot


def metamorph_path():
    """The file of the database the page is about (the header's switcher chooses it)."""
    return databases.current().path


def latest_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return page_cache.light(
        Snapshot.objects.filter(db_path=db_path, kind=kind, state=Snapshot.State.DONE)
    ).first()


def cached_isolation(db_path):
    """(audit, source) from the newest finished background read, without reading the file:
    source says when it ran and whether the file was written since ({} when there is none)."""
    snap = (
        Snapshot.objects.filter(db_path=db_path, state=Snapshot.State.DONE)
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .first()
    )
    if snap is None or not (snap.payload or {}).get("isolation"):
        return None, {}
    written = _written_at(agents.live_facts(databases.for_path(db_path)))
    age = (timezone.now() - snap.finished_at).total_seconds()
    return snap.payload["isolation"], {
        "source": "background read",
        "read": snap.pk,
        "at": snap.finished_at.isoformat(timespec="seconds"),
        "age_seconds": round(age),
        "file_written_since": bool(written and written > snap.finished_at),
    }


def pending_snapshot(db_path, kind=Snapshot.Kind.COUNTS):
    return page_cache.light(
        Snapshot.objects.filter(
            db_path=db_path, kind=kind, state__in=[Snapshot.State.QUEUED, Snapshot.State.RUNNING]
        )
    ).first()


def latest_integrity_job(db_path):
    """The newest full integrity_check job of this file (run from the Health or Jobs page)."""
    return Job.objects.for_file(db_path).of_kinds(["integrity-check"]).order_by("-id").first()


def last_failed_snapshot(db_path):
    """The newest finished background read, when it failed (it then replaces the last good
    one: its figures are stale)."""
    last = page_cache.light(
        Snapshot.objects.filter(
            db_path=db_path, state__in=[Snapshot.State.DONE, Snapshot.State.FAILED]
        )
    ).first()
    return last if last and last.state == Snapshot.State.FAILED else None


def known_file_problem(db_path):
    """What the newest background read or full integrity check found wrong with the file
    (damage, unreadable, checks failing), with when: "" when the newest found nothing."""
    snap = Snapshot.objects.filter(
        db_path=db_path, state__in=[Snapshot.State.DONE, Snapshot.State.FAILED]
    ).first()
    job = (
        Job.objects.filter(kind="integrity-check", db_path=db_path, finished_at__isnull=False)
        .order_by("-finished_at")
        .first()
    )
    found = []
    if snap:
        integrity = (snap.payload or {}).get("integrity") or {}
        if snap.state == Snapshot.State.FAILED:
            found.append((snap.finished_at, f"the background read failed: {snap.error}"))
        elif integrity and not integrity.get("ok", True):
            found.append(
                (
                    snap.finished_at,
                    "quick_check found problems: " + "; ".join(integrity.get("messages", [])[:3]),
                )
            )
        else:
            found.append((snap.finished_at, ""))
    if job:
        result = job.result or {}
        if job.state == Job.State.FAILED:
            found.append((job.finished_at, f"the full integrity_check failed: {job.error}"))
        elif result and not result.get("ok", True):
            found.append(
                (
                    job.finished_at,
                    "integrity_check found problems: " + "; ".join(result.get("messages", [])[:3]),
                )
            )
        else:
            found.append((job.finished_at, ""))
    if not found:
        return ""
    when, problem = max(found, key=lambda f: f[0])
    return f"{when:%Y-%m-%d %H:%M:%S} UTC: {problem}" if problem else ""


# Metamorph commits every few ms, so its file has nearly always "changed since" the last read.
# A page recounts on its own only when the last read is older than this, or a job of ours
# changed the file after it; otherwise each finished read would start the next (and a page
# that refreshes itself when a read finishes would refresh forever). "Recount now" always does.
AUTO_RECOUNT_AFTER = timedelta(seconds=60)


@dataclass
class Overview:
    """A report plus where its counts came from."""

    report: dict
    snapshot: Snapshot | None
    pending: Snapshot | None
    file_changed: bool
    changed_by_job: bool = False
    changing_job: object = None  # a job of ours changing the file right now (its banner)
    failed: Snapshot | None = None  # a background read newer than `snapshot` that failed
    changed_since_failure: bool = False
    live: agents.LiveFacts | None = None  # the heartbeat's facts, and when they were read
    schema_changed: bool = False  # the file's schema cookie moved since the stored report

    @property
    def stale(self):
        """The figures shown come from a read older than a failed one."""
        return self.failed is not None and self.snapshot is not None

    @property
    def needs_snapshot(self):
        if self.pending is not None:
            return False
        if self.changed_by_job or self.schema_changed:
            return True
        last = self.failed or self.snapshot  # a failed read is newer than the last good one
        if last is None:
            return True
        changed = self.changed_since_failure if self.failed else self.file_changed
        return changed and last.finished_at < timezone.now() - AUTO_RECOUNT_AFTER

    @property
    def partial(self):
        """True when some count on the page is a floor ("more than N")."""
        return not self.report["counts"].get("complete", True)


def _mutating_kinds():
    return [k.name for k in kinds.KINDS.values() if k.mutating]


def changed_by_job_since(db_path, moment):
    """Whether a job of ours that changes the file (remap, undo, migration, restore…) finished
    after `moment`."""
    return (
        Job.objects.for_file(db_path)
        .of_kinds(_mutating_kinds())
        .succeeded()
        .filter(finished_at__gt=moment)
        .exists()
    )


def changing_job(db_path):
    """The job of ours changing the file right now, if any."""
    return Job.objects.for_file(db_path).of_kinds(_mutating_kinds()).in_progress().first()


def _failed_read(failed):
    """The integrity entry a failed background read puts in place of the last good one's."""
    when = failed.finished_at
    return {
        "ok": False,
        "check": "quick_check",
        "seconds": None,
        "failed_at": when.isoformat() if when else None,
        "messages": [
            f"the background read of {when:%Y-%m-%d %H:%M:%S} UTC failed: {failed.error}"
            if when
            else f"the background read failed: {failed.error}"
        ],
    }


def _written_at(live):
    """When the file was last written, from the live facts (None while nobody read them)."""
    mtime = (live.facts or {}).get("mtime")
    return datetime.fromtimestamp(mtime, UTC) if mtime is not None else None


def overview(db_path):
    """The report for the pages: the page report and counts the background read stored, the
    live facts from the agent's heartbeat; never a read of the file. A read that failed after
    the last good one replaces its "integrity ok": the page shows the failure instead."""
    live = agents.live_facts(databases.for_path(db_path))
    snap = page_cache.counts_snapshot(db_path)
    failed = last_failed_snapshot(db_path)
    data = page_cache.cached_report(db_path, snap, live)
    read_cookie = data.pop("read_cookie")
    if failed is not None:
        data = dict(data, integrity=_failed_read(failed))
        data["checks"] = checks.run_checks(data)
    if snap is not None and snap.state != Snapshot.State.DONE:
        snap = None  # early counts of a read still running: the page shows it as pending
    mtime = _written_at(live)
    changed = by_job = False
    if snap and snap.finished_at and mtime:
        changed = mtime > snap.finished_at
        by_job = changed and changed_by_job_since(db_path, snap.finished_at)
    after_failure = bool(failed and failed.finished_at and mtime and mtime > failed.finished_at)
    cookie = (live.facts or {}).get("schema_cookie")
    return Overview(
        data,
        snap,
        pending_snapshot(db_path),
        changed,
        by_job,
        changing_job(db_path),
        failed,
        after_failure,
        live=live,
        schema_changed=cookie is not None and str(cookie) != str(read_cookie),
    )


def matrix_sort(sort, direction, tables):
    """A valid (column, descending) for the matrix: 'vault', 'total' or a migrated table."""
    column = sort if sort in ("vault", "total") or sort in tables else "total"
    if direction not in ("asc", "desc"):
        direction = "asc" if column == "vault" else "desc"
    return column, direction == "desc"


# A link names a vault by its id up to this length, longer ones by a digest: a 10,000-character
# id already in the file made a 10 kB link that gunicorn refuses (414, its line limit is 4 kB).
LINK_ID_MAX = 512


def vault_key(vault):
    """The digest a link names a long vault id by."""
    return hashlib.sha256(str(vault).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def vault_link_query(vault):
    """The /vault/ query string that names `vault`: ?id=… or, for a very long id, ?key=…."""
    if len(vault) <= LINK_ID_MAX:
        return urlencode({"id": vault})
    return urlencode({"key": vault_key(vault)})


def vault_from_query(counts, params):
    """(vault, problem) named by a /vault/ query: by id, or by the key of a long id."""
    if "key" in params:
        key = params.get("key", "")
        found = next((v for v, _ in counts["vaults"] if vault_key(v) == key), None)
        return (
            (found, "") if found is not None else ("", f"No vault in the file has key {key[:40]}.")
        )
    vault = params.get("id", "")
    if len(vault) > LINK_ID_MAX:
        return "", (
            f"A vault id of {len(vault):,} characters is longer than a link names ids by "
            f"(at most {LINK_ID_MAX:,}; Metamorph's own rule is 1-128): open it from the "
            "Vaults page, whose link names such an id by a digest."
        )
    return vault, ""


def matrix_rows(counts, query="", offset=0, limit=50, sort="total", direction=""):
    """Vault rows of the matrix (largest first unless sorted by another column), filtered by a
    substring, one page of them (limit None: all)."""
    tables = [t for t, e in counts["tables"].items() if e["state"] == "migrated"]
    column, descending = matrix_sort(sort, direction, tables)
    vaults = [(v, n) for v, n in counts["vaults"] if query.lower() in v.lower()]
    vaults.sort(key=lambda vn: vn[0], reverse=descending and column == "vault")
    if column == "total":
        vaults.sort(key=lambda vn: vn[1], reverse=descending)  # stable: ties stay by name
    elif column != "vault":
        by_vault = counts["tables"][column]["by_vault"]
        vaults.sort(key=lambda vn: by_vault.get(vn[0], 0), reverse=descending)
    page = vaults[offset : offset + limit] if limit else vaults[offset:]
    rows = [
        {
            "vault": v,
            "link": vault_link_query(v),
            "total": n,
            "cells": [counts["tables"][t]["by_vault"].get(v, 0) for t in tables],
        }
        for v, n in page
    ]
    return {
        "tables": tables,
        "rows": rows,
        "matched": len(vaults),
        "sort": column,
        "direction": "desc" if descending else "asc",
        "column_totals": [counts["tables"][t].get("total", 0) for t in tables],
    }


def vault_page(counts, vault):
    rows = inspect.vault_detail(counts, vault)
    total = sum(r["rows"] for r in rows)
    return {
        "vault": vault,
        "rows": rows,
        "total": total,
        "exists": any(v == vault for v, _ in counts["vaults"]),
    }


def _hours(seconds):
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def backup_age_finding(db_path, backup_dir=None):
    """A warning finding when the newest restorable backup of `db_path` (a verified local copy,
    or an archive of the repository that a check restored) is older than BACKUP_MAX_AGE_HOURS
    (or there is none); None when fresh enough or the warning is off."""
    limit = settings.BACKUP_MAX_AGE_HOURS
    if not limit:
        return None
    newest = _newest_restorable(db_path, backup_dir)
    fix = (
        "Back up now on the Backups page, and schedule `python manage.py backupdb --keep N` "
        "(docs/backups.md: Scheduled backups)"
        + (
            " and `checkbackups` (docs/backups-offsite.md)."
            if repository_index.configured()
            else "."
        )
    )
    if newest is None:
        return {
            "id": "backup_age",
            "title": "No verified backup",
            "status": "warning",
            "detail": "This file has no verified backup in the backup directory"
            + (" and no archive a check restored." if repository_index.configured() else "."),
            "cause": "No backup was taken, or none was verified.",
            "fix": fix,
        }
    name, age = newest
    if age <= limit * 3600:
        return None
    return {
        "id": "backup_age",
        "title": "Backup too old",
        "status": "warning",
        "detail": f"The newest {'restorable' if repository_index.configured() else 'verified'} "
        f"backup ({name}) is "
        f"{_hours(age)} old; the limit is {limit:g} hours "
        "(BACKUP_MAX_AGE_HOURS).",
        "cause": "Scheduled backups are not running, or failing.",
        "fix": fix,
    }


def _newest_verified(db_path, backup_dir=None):
    """The newest verified backup (name, age) from the mirrored manifests; a command given
    its own backup directory lists it."""
    if backup_dir is not None:
        return newest_verified(backup_dir, source_path=db_path)
    return backup_mirror.newest_verified(databases.for_path(db_path))


def _newest_restorable(db_path, backup_dir):
    """(name, age in seconds) of the youngest of: the newest verified local backup, the
    newest repository archive that a check restored (an unchecked archive does not count)."""
    found = []
    local = _newest_verified(db_path, backup_dir)
    if local is not None:
        found.append((local["name"], local["age_seconds"]))
    archive = repository_index.newest_restorable(databases.for_path(db_path).name)
    if archive is not None:
        found.append((archive.archive, archive.age_seconds))
    return min(found, key=lambda f: f[1]) if found else None


@dataclass(frozen=True)
class NextStep:
    """What the operator should do next with this file, in one sentence and one link."""

    state: str  # legacy | partial | migrated-legacy-data | remapped | empty
    title: str
    text: str
    url_name: str
    anchor: str = ""
    label: str = ""


def next_step(report):
    """The file's migration state and the step that follows (the Vaults page leads with it)."""
    states = {t: s for t, s in report["table_states"].items() if s != "absent"}
    migrated = [t for t, s in states.items() if s == "migrated"]
    pending = [t for t, s in states.items() if s == "not-migrated"]
    if not migrated:
        return NextStep(
            "legacy",
            "Legacy file: run the migrations",
            "No table has vault_id yet. Take a verified backup, rehearse, then run "
            "001_add_vault_id and 002_add_vercel_sandbox_tables.",
            "migrations_ui:migrations",
            "",
            "Go to Migrations",
        )
    if pending:
        return NextStep(
            "partial",
            "Partly migrated: finish the migrations",
            f"vault_id is missing on {len(pending)} table"
            f"{'s' if len(pending) != 1 else ''} ({', '.join(pending[:4])}"
            f"{'…' if len(pending) > 4 else ''}). Running the migrations adds it "
            "and skips what is done.",
            "migrations_ui:migrations",
            "",
            "Go to Migrations",
        )
    counts = report["counts"]
    legacy_rows = dict(counts["vaults"]).get(schema.DEFAULT_VAULT, 0)
    if legacy_rows:
        more = "at least " if not counts.get("complete", True) else ""
        return NextStep(
            "migrated-legacy-data",
            "Migrated, legacy data in default-vault",
            f"{more}{legacy_rows:,} rows are still in default-vault. Remap them to "
            "the users' vaults, or leave them if one user owns them all (that user "
            "then needs the vault id default-vault).",
            "vaults:remap",
            "",
            "Go to Remap",
        )
    return NextStep(
        "remapped",
        "Migrated and remapped: audit the isolation",
        "No row is left in default-vault. Check that every linked row shares its parent's vault.",
        "vaults:remap",
        "#isolation-audit",
        "Open the isolation audit",
    )


# Where each check's fix is done on this site: the button rather than the command's name.
CHECK_ACTIONS = {
    "partial_migration": ("Run the migrations", "migrations_ui:migrations", "#run-form"),
    "slow_queries": ("Run the migrations", "migrations_ui:migrations", "#run-form"),
    "data_not_showing": ("Remap legacy data", "vaults:remap", ""),
    "vault_ids": ("Remap those rows", "vaults:remap", ""),
    "isolation": ("Open the remap plans", "vaults:remap", "#remap-plans"),
    "integrity": ("Restore a verified backup", "migrations_ui:backups", "#backups"),
    "database_locked": ("See the lock on the Health page", "vaults:health", "#lock-state"),
}


def check_actions(findings):
    """{check id: {label, url}} for the findings that have a fix and a page that does it."""
    links = {}
    for f in findings:
        action = CHECK_ACTIONS.get(f["id"])
        if action is not None and f["status"] != "ok" and f.get("fix"):
            label, name, anchor = action
            links[f["id"]] = {"label": label, "url": reverse(name) + anchor}
    return links


PROBLEM_STATUSES = ("missing", "pending")
STATUS_ORDER = {"missing": 0, "pending": 1, "differs": 2, "present": 3, "not-applicable": 4}
FIX_PAGES = {"runmigration": ("Run the migrations", "migrations_ui:migrations", "#run-form")}


def index_view(ix, problems_only=False):
    """The Indexes page: problems grouped by their fix (each fix said once), then the rows
    with problems first (or only them)."""
    groups = {}
    for row in ix["expected"]:
        if row["status"] in PROBLEM_STATUSES:
            key = (row["status"], row["fix"])
            groups.setdefault(key, []).append(row)
    scans = [p for p in ix["plans"] if p["full_scan"]]
    problems = [
        {
            "status": status,
            "fix": fix,
            "rows": rows,
            "tables": sorted({r["table"] for r in rows}),
            "action": _fix_action(fix),
        }
        for (status, fix), rows in groups.items()
    ]
    expected = sorted(ix["expected"], key=lambda r: STATUS_ORDER.get(r["status"], 9))
    plans = sorted(ix["plans"], key=lambda p: not p["full_scan"])
    if problems_only:
        expected = [r for r in expected if r["status"] in PROBLEM_STATUSES]
        plans = scans
    scan_fixes = sorted({p["fix"] for p in scans if p["fix"]})
    return {
        "problems": problems,
        "scans": scans,
        "expected": expected,
        "plans": plans,
        "scan_fixes": [{"fix": f, "action": _fix_action(f)} for f in scan_fixes],
        "problem_count": sum(len(g["rows"]) for g in problems) + len(scans),
    }


def _fix_action(fix):
    for word, (label, name, anchor) in FIX_PAGES.items():
        if word in (fix or ""):
            return {"label": label, "url": reverse(name) + anchor}
    return None
