"""Prometheus metrics: each app registers a collector; a scrape only reads what is cheap.

A collector is `collect(db_path) -> iterable of prometheus_client metric families`. It reads
cached background results (counts), manifests, Job rows and the file's schema, never counts
rows live: a scrape of a multi-GB file costs milliseconds. Apps register theirs in
AppConfig.ready(), as they register job kinds.
"""
import logging
import time
from collections.abc import Callable, Iterable

from django.db.models import Count, Max
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from metamorph_admin.models import Job

logger = logging.getLogger(__name__)
Collect = Callable[[str], Iterable]
COLLECTORS: dict[str, Collect] = {}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def register(name, collect):
    """Add (or replace) the collector `name`."""
    COLLECTORS[name] = collect


def gauge(name, documentation, labels=(), samples=()):
    """A gauge family from (label values, value) pairs."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


class _Scrape:
    """One scrape: every registered collector, each timed and isolated from the others."""

    def __init__(self, db_path):
        self.db_path = db_path

    def collect(self):
        ok = []
        took = []
        for name, collect in COLLECTORS.items():
            started = time.monotonic()
            try:
                families = list(collect(self.db_path))
                ok.append(((name,), 1))
            except Exception:  # one broken source must not hide the others
                logger.warning("metrics collector %s failed", name, exc_info=True)
                families = []
                ok.append(((name,), 0))
            took.append(((name,), time.monotonic() - started))
            yield from families
        yield gauge("metamorph_admin_collector_up", "1 when the collector read its source",
                    ["collector"], ok)
        yield gauge("metamorph_admin_collector_seconds", "Time the collector took",
                    ["collector"], took)


def render(db_path):
    """The Prometheus text exposition for `db_path` (bytes)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(db_path))
    return generate_latest(registry)


def collect_jobs(db_path):
    """Jobs by kind and state (failures included) and when each kind last failed."""
    rows = Job.objects.order_by().values("kind", "state").annotate(n=Count("id"))
    yield gauge("metamorph_admin_jobs", "Jobs recorded, by kind and state (failed = failures)",
                ["kind", "state"], (((r["kind"], r["state"]), r["n"]) for r in rows))
    failed = (Job.objects.order_by().filter(state=Job.State.FAILED).values("kind")
              .annotate(at=Max("finished_at")))
    yield gauge("metamorph_admin_job_last_failure_timestamp_seconds",
                "When a job of this kind last failed (Unix time)", ["kind"],
                (((r["kind"],), r["at"].timestamp()) for r in failed if r["at"]))
    running = Job.objects.filter(state=Job.State.RUNNING, db_path=db_path).values_list(
        "id", "kind", "done", "total")
    yield gauge("metamorph_admin_job_progress_ratio",
                "Progress of each running job on this file, 0 to 1", ["job", "kind"],
                (((str(i), k), (d / t if t else 0.0)) for i, k, d, t in running))


register("jobs", collect_jobs)
