"""The Vaults app's Prometheus metrics: counts and schema facts (table states, migrations,
index health) from the stored background read, size from the agent's heartbeat, remap
progress from the job rows. Nothing here opens the file."""

from django.utils import timezone

from metamorph import report, schema
from metamorph_admin import agents, databases
from metamorph_admin.metrics import gauge
from metamorph_admin.models import Job
from vaults import page_cache
from vaults.models import Snapshot

REMAP_KINDS = ("remap", "remap-undo")


def collect(db_path):
    yield from _file_facts(db_path)
    snap = (
        Snapshot.objects.filter(db_path=db_path, state=Snapshot.State.DONE)
        .only("id", "finished_at", "payload")
        .first()
    )
    if snap is not None:
        yield from _cached_counts(snap)
    yield from _remap_progress(db_path)


def _file_facts(db_path):
    """Schema facts from the page report the background read stored, size from the agent's
    heartbeat: a scrape opens no file."""
    live = agents.live_facts(databases.for_path(db_path))
    if live.problem:
        yield gauge(
            "metamorph_file_readable",
            "1 when the Metamorph file opens as a Metamorph database",
            ["problem"],
            [(((live.facts or {}).get("problem_kind", "FileProblem"),), 0)],
        )
        return
    shaped = page_cache.report_snapshot(db_path)
    cookie = live.facts.get("schema_cookie")
    if not agents.required() and (shaped is None or str(cookie) != shaped.cookie):
        stored = report.page_shape(db_path)["report"]  # this process is the file's agent
    elif shaped is None:
        return  # nothing read yet: the agent's first read (a page visit queues it) brings them
    else:
        stored = Snapshot.objects.values_list("payload__report", flat=True).get(id=shaped.id)
    states = stored["table_states"]
    applied = {m["id"] for m in stored["health"]["applied_migrations"]}
    health = stored["indexes"]
    yield gauge(
        "metamorph_file_readable",
        "1 when the Metamorph file opens as a Metamorph database",
        ["problem"],
        [(("",), 1)],
    )
    yield gauge(
        "metamorph_file_size_bytes",
        "Size of the Metamorph file",
        [],
        [((), live.facts["size_bytes"])],
    )
    yield gauge(
        "metamorph_migration_applied",
        "1 when the migration has its schema_migrations row",
        ["migration"],
        (((m,), int(m in applied)) for m in schema.MIGRATION_IDS),
    )
    yield gauge(
        "metamorph_tables",
        "Vault tables by state (migrated = has vault_id)",
        ["state"],
        (((s,), list(states.values()).count(s)) for s in ("migrated", "not-migrated", "absent")),
    )
    yield gauge(
        "metamorph_expected_indexes",
        "Expected indexes by status (missing and differs are problems)",
        ["status"],
        (((s,), n) for s, n in health["status_counts"].items()),
    )
    yield gauge(
        "metamorph_vault_queries_full_scan",
        "Vault-scoped queries the planner answers with a full table scan",
        [],
        [((), sum(1 for p in health["plans"] if p["full_scan"]))],
    )


def _cached_counts(snap):
    payload = snap.payload or {}
    counts = payload.get("counts") or {}
    tables = counts.get("tables") or {}
    yield gauge(
        "metamorph_counts_age_seconds",
        "Age of the cached counts (the background read)",
        [],
        [((), (timezone.now() - snap.finished_at).total_seconds())],
    )
    yield gauge(
        "metamorph_table_rows",
        "Rows per table (cached count)",
        ["table"],
        (((t,), e.get("total", 0)) for t, e in tables.items() if e["state"] != "absent"),
    )
    yield gauge(
        "metamorph_vault_table_rows",
        "Rows per vault and table (cached count)",
        ["vault", "table"],
        (((v, t), n) for t, e in tables.items() for v, n in e.get("by_vault", {}).items()),
    )
    yield gauge(
        "metamorph_blank_vault_rows",
        "Rows with a NULL or empty vault_id",
        [],
        [((), counts.get("blank_vault_rows", 0))],
    )
    yield gauge(
        "metamorph_vaults", "Distinct vault ids", [], [((), counts.get("distinct_vaults", 0))]
    )
    integrity = payload.get("integrity") or {}
    if integrity:
        yield gauge(
            "metamorph_quick_check_ok",
            "1 when the last quick_check said ok",
            [],
            [((), int(bool(integrity.get("ok"))))],
        )
    isolation = payload.get("isolation")
    if isolation is not None:
        yield gauge(
            "metamorph_isolation_findings",
            "Isolation audit findings (links across vaults, blank vaults, odd ids)",
            [],
            [((), len(isolation.get("findings") or []))],
        )


def _remap_progress(db_path):
    jobs = Job.objects.filter(
        db_path=db_path, kind__in=REMAP_KINDS, state=Job.State.RUNNING
    ).values_list("parameters", "kind", "done", "total")
    done, total = [], []
    for params, kind, d, t in jobs:
        labels = ((params or {}).get("plan_id", ""), kind)
        done.append((labels, d))
        total.append((labels, t))
    yield gauge(
        "metamorph_remap_rows_done",
        "Rows a running remap (or undo) has handled",
        ["plan_id", "kind"],
        done,
    )
    yield gauge(
        "metamorph_remap_rows_total",
        "Rows a running remap (or undo) will handle",
        ["plan_id", "kind"],
        total,
    )
