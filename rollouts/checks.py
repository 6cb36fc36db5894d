"""The gatherers behind checked items: each reads one database's evidence and says pass/fail.

A gatherer takes a Target (the rollout, which database, its URL and backup directory) and
returns an Outcome with the numbers the page shows and links to the evidence. It never
raises for an operator problem: a missing file or a refused connection is a failed outcome.
"""
import json
from dataclasses import dataclass, field

from django.urls import reverse

from metamorph_admin import databases
from metamorph import backup
from metamorph.migrate import runner
from metamorph_admin.models import AuditRecord, Job
from metamorph import live, remap, rollout_evidence
from metamorph.errors import MetamorphError, NotMigrated
from vaults.models import RemapPlanRecord

LEGACY_VAULT = rollout_evidence.LEGACY_VAULT
AUDIT_SECONDS = 20.0


@dataclass
class Outcome:
    status: str                    # pass | info | fail
    summary: str
    numbers: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)   # [{"label", "url"?, "text"?}]


@dataclass
class Target:
    rollout: object
    role: str                      # staging | production
    name: str
    path: str
    url: str
    backup_dir: str
    tokens: tuple = ()

    def page(self, view, **kwargs):
        """A link to a dashboard page about this database (the header switches to it)."""
        return f"{reverse(view, kwargs=kwargs or None)}?database={self.name}"


def target_for(rollout, role, tokens=()):
    """The Target of a rollout's staging/production database, or None when it was removed."""
    name, path = getattr(rollout, f"{role}_name"), getattr(rollout, f"{role}_path")
    db = databases.get(name)
    if db is None or db.path != path:
        return None
    return Target(rollout, role, name, path, getattr(rollout, f"{role}_url"), db.backup_dir,
                  tokens)


def _hours(seconds):
    return round(seconds / 3600, 1)


def _newest_verified(t):
    return next((e for e in backup.list_backups(t.backup_dir)
                 if e["state"] == "verified" and e["source_path"] == t.path), None)


def recent_backup(t):
    found = _newest_verified(t)
    limit = t.rollout.backup_max_age_hours
    if found is None:
        return Outcome("fail", f"No verified backup of {t.path} in {t.backup_dir}. Take one on "
                               "the Backups page or with `backupdb --database "
                               f"{t.name}`.", {"max age (h)": limit},
                       [{"label": "Backups page", "url": t.page("migrations_ui:backups")}])
    age = _hours(found["age_seconds"])
    numbers = {"backup": found["name"], "age (h)": age, "max age (h)": limit,
               "size (bytes)": found["size_bytes"], "rows": found["total_rows"],
               "sha256": (found["sha256"] or "")[:16]}
    evidence = [{"label": f"backup {found['name']}", "url": t.page("migrations_ui:backups")},
                {"label": "manifest", "text": found["path"] + ".json"}]
    job = Job.objects.for_file(t.path).of_kinds(["backup"]).filter(
        result__name=found["name"]).first()
    if job is not None:
        evidence.append({"label": f"backup job #{job.pk} by {job.actor}",
                         "url": reverse("core:job", args=[job.pk])})
    if age > limit:
        return Outcome("fail", f"The newest verified backup is {age} h old, more than "
                               f"{limit:g} h. Take a new one.", numbers, evidence)
    return Outcome("pass", f"Verified backup {found['name']}, {age} h old.", numbers, evidence)


def row_counts(t):
    found = _newest_verified(t)
    if found is None or found["total_rows"] is None:
        return Outcome("fail", "No verified backup manifest with row counts: take a backup "
                               "(its manifest records every table's rows).")
    numbers = {"total rows": found["total_rows"], **{
        f"{table} rows": n for table, n in sorted(found["row_totals"].items())}}
    return Outcome("pass", f"{found['total_rows']:,} rows in {len(found['row_totals'])} tables "
                           f"recorded in the manifest of {found['name']}.", numbers,
                   [{"label": "manifest", "text": found["path"] + ".json"},
                    {"label": "Backups page", "url": t.page("migrations_ui:backups")}])


def rehearsal(t):
    job = (Job.objects.for_file(t.path).of_kinds(["rehearsal"]).succeeded()
           .order_by("-finished_at", "-id").first())
    planned = t.rollout.planned_downtime_minutes * 60
    if job is None:
        return Outcome("fail", "No successful rehearsal of this database: rehearse on the "
                               "Migrations page or with `runmigration --rehearse --database "
                               f"{t.name}`.", {"planned downtime (s)": planned},
                       [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}])
    result = job.result or {}
    measured = round((result.get("migrate_seconds") or 0) + (result.get("verify_seconds") or 0), 2)
    numbers = {"measured downtime (s)": measured, "planned downtime (s)": planned,
               "copy (s)": result.get("copy_seconds"), "rehearsed at": f"{job.finished_at:%Y-%m-%d %H:%M}"}
    evidence = [{"label": f"rehearsal job #{job.pk}", "url": reverse("core:job",
                                                                      args=[job.pk])}]
    if not result.get("ok"):
        return Outcome("fail", "The rehearsal ran but its verification failed.", numbers,
                       evidence)
    if measured > planned:
        return Outcome("fail", f"The rehearsed migration took {measured} s, more than the "
                               f"planned {planned:g} s of downtime.", numbers, evidence)
    return Outcome("pass", f"Rehearsal passed: {measured} s of migration and verification "
                           f"against {planned:g} s planned.", numbers, evidence)


def _verification_job(path, since):
    for job in (Job.objects.for_file(path).of_kinds(["migration", "verification"]).succeeded()
                .order_by("-finished_at", "-id")):
        if since and job.finished_at.isoformat() < since:
            return None
        verification = (job.result or {}).get("verification")
        if verification is not None:
            return job, verification
    return None


def migration_verified(t):
    status = runner.status(t.path)
    pending = [m["id"] for m in status if m["pending"]]
    numbers = {m["id"]: (m["applied_at"] or "pending") for m in status}
    if pending:
        return Outcome("fail", f"Not applied yet: {', '.join(pending)}.", numbers,
                       [{"label": "Migrations page", "url": t.page("migrations_ui:migrations")}])
    last_applied = max(m["applied_at"] or "" for m in status)
    found = _verification_job(t.path, last_applied[:19])
    if found is None:
        return Outcome("fail", "Applied, but no verification since: run `runmigration --verify "
                               f"--database {t.name}` or Verify on the Migrations page.",
                       numbers, [{"label": "Migrations page",
                                  "url": t.page("migrations_ui:migrations")}])
    job, verification = found
    failed = [c["name"] for c in verification["checks"] if not c["ok"]]
    numbers["verification checks"] = f"{len(verification['checks']) - len(failed)} of " \
                                     f"{len(verification['checks'])} ok"
    evidence = [{"label": f"{job.kind} job #{job.pk}", "url": reverse("core:job",
                                                                       args=[job.pk])}]
    if failed:
        return Outcome("fail", f"The verification failed: {', '.join(failed)}.", numbers,
                       evidence)
    return Outcome("pass", f"All migrations applied; job #{job.pk} verified them.", numbers,
                   evidence)


def index_health(t):
    found = rollout_evidence.index_evidence(t.path)
    scans = [p["table"] for p in found["plans"] if p["full_scan"] or not p["index_used"]]
    numbers = {**{f"indexes {k}": v for k, v in sorted(found["status_counts"].items())},
               "vault queries planned": len(found["plans"]),
               "using an index": len(found["plans"]) - len(scans)}
    evidence = [{"label": "Indexes page", "url": t.page("vaults:indexes")}] + [
        {"label": f"EXPLAIN {p['table']}", "text": p["plan"]} for p in found["plans"]]
    problems = []
    if found["not_migrated"]:
        problems.append(f"{len(found['not_migrated'])} tables not migrated")
    if found["missing"]:
        problems.append("missing " + ", ".join(found["missing"][:5]))
    if scans:
        problems.append("no index used by " + ", ".join(scans[:5]))
    if problems:
        return Outcome("fail", "; ".join(problems) + ".", numbers, evidence)
    return Outcome("pass", f"Every expected index present; all {len(found['plans'])} "
                           "vault-scoped queries use an index.", numbers, evidence)


def isolation_audit(t):
    try:
        audit = remap.isolation_audit(t.path, seconds=AUDIT_SECONDS)
    except NotMigrated as exc:
        return Outcome("fail", str(exc))
    numbers = {"links checked": len(audit["checked"]), "findings": len(audit["findings"]),
               "seconds": audit["seconds"]}
    evidence = [{"label": "Remap page (isolation audit)", "url": t.page("vaults:remap")}] + [
        {"label": f.get("title", f.get("check", "finding")), "text": str(f.get("count", ""))}
        for f in audit["findings"][:10]]
    if audit["unfinished"]:
        return Outcome("fail", f"The audit did not finish in {AUDIT_SECONDS:g} s: "
                               f"{', '.join(audit['unfinished'][:3])}.", numbers, evidence)
    if not audit["clean"]:
        return Outcome("fail", f"{len(audit['findings'])} isolation finding(s).", numbers,
                       evidence)
    return Outcome("pass", "Isolation audit clean: every linked row is in its parent's vault, "
                           "no row without a vault, every vault id within the rules.",
                   numbers, evidence)


def _distribution_numbers(found):
    return {"distinct vaults": found["distinct_vaults"], "rows": found["total_rows"],
            f"rows in {LEGACY_VAULT}": found["default_vault_rows"],
            "rows without a vault": found["blank_vault_rows"],
            **{f"vault {v}": n for v, n in found["largest_vaults"][:5]}}


def legacy_in_default_vault(t):
    found = rollout_evidence.vault_distribution(t.path)
    numbers = _distribution_numbers(found)
    evidence = [{"label": "Vaults page", "url": t.page("vaults:dashboard")}]
    if found["not_migrated"]:
        return Outcome("fail", f"{len(found['not_migrated'])} tables have no vault_id yet.",
                       numbers, evidence)
    if found["blank_vault_rows"]:
        return Outcome("fail", f"{found['blank_vault_rows']:,} rows have no vault: Metamorph "
                               "will not show them to anyone.", numbers, evidence)
    return Outcome("pass", f"{found['default_vault_rows']:,} existing rows are in "
                           f"{LEGACY_VAULT}; no row without a vault.", numbers, evidence)


def vault_distribution(t):
    found = rollout_evidence.vault_distribution(t.path)
    numbers = _distribution_numbers(found)
    evidence = [{"label": "Vaults page", "url": t.page("vaults:dashboard")}]
    own = [v for v, _ in found["largest_vaults"] if v != LEGACY_VAULT]
    if not own:
        return Outcome("fail", f"Every row is in {LEGACY_VAULT}: no user has a vault of their "
                               "own yet.", numbers, evidence)
    return Outcome("pass", f"{found['distinct_vaults']} vaults hold data "
                           f"({found['default_vault_rows']:,} rows still in {LEGACY_VAULT}).",
                   numbers, evidence)


def _plan_rows(t):
    rows = []
    for record in RemapPlanRecord.objects.filter(db_path=t.path).order_by("created_at"):
        state = remap.plan_status(t.path, record.plan_id)
        audited = AuditRecord.objects.filter(
            action="remap", job__parameters__plan_id=record.plan_id,
            outcome=AuditRecord.Outcome.SUCCESS).exists()
        rows.append((record, state, audited))
    return rows


def remap_plans(t):
    rows = _plan_rows(t)
    ran = [(r, s, a) for r, s, a in rows if s["state"] != "unknown"]
    numbers = {"plans previewed": len(rows), "plans run": len(ran),
               "completed": sum(1 for _, s, _ in ran if s["state"] == "completed"),
               "rows moved": sum(s.get("moved_rows", 0) for _, s, _ in ran)}
    evidence = [{"label": f"plan {r.plan_id} ({s['state']})",
                 "url": reverse("vaults:remap_plan", args=[r.plan_id])} for r, s, _ in rows]
    if not ran:
        return Outcome("info", "No remap ran: existing users stay in default-vault (the remap "
                               "is optional).", numbers, evidence)
    unfinished = [r.plan_id for r, s, _ in ran if s["state"] in (
        "running", "interrupted", "undoing", "undo-interrupted")]
    unaudited = [r.plan_id for r, s, a in ran if s["state"] == "completed" and not a]
    if unfinished:
        return Outcome("fail", f"Plan(s) not finished: {', '.join(unfinished)}. Resume or undo "
                               "them.", numbers, evidence)
    if unaudited:
        return Outcome("fail", f"Plan(s) completed without a successful audited job: "
                               f"{', '.join(unaudited)} (run outside this dashboard?).",
                       numbers, evidence)
    return Outcome("pass", f"{numbers['completed']} plan(s) completed, each with its audit "
                           "record.", numbers, evidence)


def _stay_reasons(t):
    """{table: {reason text: rows}} the completed plans gave for rows they left behind."""
    reasons = {}
    for record, state, _ in _plan_rows(t):
        if state["state"] != "completed":
            continue
        preview = json.loads(record.plan_json)["preview"]
        texts = preview.get("reasons", {})
        for table, why in preview.get("stays", {}).items():
            for name, n in why.items():
                text = texts.get(name, name)
                reasons.setdefault(table, {})[text] = reasons.get(table, {}).get(text, 0) + n
    return reasons


def default_vault_leftovers(t):
    found = rollout_evidence.vault_distribution(t.path)
    left = found["default_vault_by_table"]
    numbers = {f"{table} rows in {LEGACY_VAULT}": n for table, n in sorted(left.items())}
    evidence = [{"label": "Vault page", "url": f"{reverse('vaults:vault')}?id={LEGACY_VAULT}"
                                               f"&database={t.name}"}]
    if not left:
        return Outcome("pass", f"No row is left in {LEGACY_VAULT}.", numbers, evidence)
    reasons = _stay_reasons(t)
    unexplained = []
    for table, n in sorted(left.items()):
        why = reasons.get(table, {})
        for text, count in why.items():
            evidence.append({"label": f"{table}: {count:,} stayed", "text": text})
        if sum(why.values()) < n:
            unexplained.append(f"{table} ({n - sum(why.values()):,})")
    if unexplained:
        return Outcome("fail", f"{sum(left.values()):,} rows left in {LEGACY_VAULT}; no remap "
                               f"explains {', '.join(unexplained[:5])}.", numbers, evidence)
    return Outcome("info", f"{sum(left.values()):,} rows left in {LEGACY_VAULT}, each with "
                           "the reason the remap gave.", numbers, evidence)


def _live(finding):
    return Outcome(finding.status, finding.summary, finding.numbers,
                   [{"label": "detail", "text": d} for d in finding.details[:10]])


def _needs_url(t):
    return Outcome("fail", f"No Metamorph server URL is given for {t.name}: add it to the "
                           "rollout, or attest this item with a note.")


def live_health(t):
    return _live(live.check_health(t.url)) if t.url else _needs_url(t)


def live_dev_mode_off(t):
    return _live(live.check_dev_mode_off(t.url)) if t.url else _needs_url(t)


def live_dev_mode(t):
    if not t.url:
        return _needs_url(t)
    outcome = _live(live.detect_dev_mode(t.url))
    if "Dev mode" in outcome.summary:
        outcome.evidence.append({"label": "Isolation audit of the database",
                                 "url": t.page("vaults:remap")})
    return outcome


def live_isolation(t):
    if not t.url:
        return _needs_url(t)
    if len(t.tokens) != 2 or not all(t.tokens):
        return Outcome("fail", "Paste two bearer tokens of two different vaults to run this "
                               "check (they are used once, never stored).")
    return _live(live.check_isolation(
        t.url, t.tokens, lambda kind, ids: rollout_evidence.vaults_of_ids(t.path, kind, ids)))


GATHERERS = {f.__name__: f for f in (
    recent_backup, row_counts, rehearsal, migration_verified, index_health, isolation_audit,
    legacy_in_default_vault, vault_distribution, remap_plans, default_vault_leftovers,
    live_health, live_dev_mode_off, live_dev_mode, live_isolation)}


def gather(name, target):
    """Run one gatherer; an operator error (missing file, not SQLite…) is a failed outcome."""
    try:
        return GATHERERS[name](target)
    except MetamorphError as exc:
        return Outcome("fail", str(exc))
    except OSError as exc:  # e.g. a backup directory this user may not read
        return Outcome("fail", f"{exc.filename or target.path}: {exc.strerror or exc}. Check "
                               "the path and its permissions, then re-run.")
