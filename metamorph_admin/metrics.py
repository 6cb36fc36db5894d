"""Prometheus metrics: each app registers a collector; a scrape only reads what is cheap.

A collector is `collect(db_path) -> iterable of prometheus_client metric families`. It reads
cached background results (counts), manifests, Job rows and the file's schema, never counts
rows live: a scrape of a multi-GB file costs milliseconds. Apps register theirs by dotted path
in AppConfig.ready() (`metamorph_admin.metric_sources`), as they register job kinds.
"""

import logging
import time

from django.db.models import Count, Max
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from metamorph.identifiers import shown
from metamorph_admin import metric_sources
from metamorph_admin.models import Job

logger = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def gauge(name, documentation, labels=(), samples=()):
    """A gauge family from (label values, value) pairs."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


class _Scrape:
    """One scrape: every registered collector for every database, each timed and isolated from
    the others; every sample carries the database's name as its `database` label."""

    def __init__(self, dbs):
        self.dbs = dbs  # [(name, path)]

    def collect(self):
        merged: dict[str, GaugeMetricFamily] = {}
        ok, took = [], []
        collectors = metric_sources.collectors()
        for database, path in self.dbs:
            for name, collect in collectors.items():
                started = time.monotonic()
                try:
                    families = list(collect(path))
                    ok.append(((database, name), 1))
                except Exception:  # one broken source must not hide the others
                    logger.warning(
                        "metrics collector %s failed on %s", name, database, exc_info=True
                    )
                    families = []
                    ok.append(((database, name), 0))
                took.append(((database, name), time.monotonic() - started))
                for family in families:
                    # A vault id may hold any character: each label value is escaped
                    # (metamorph.identifiers) so one odd id never breaks the scrape.
                    samples = [
                        s._replace(
                            labels={
                                k: shown(v) for k, v in {"database": database, **s.labels}.items()
                            }
                        )
                        for s in family.samples
                    ]
                    if family.name in merged:
                        merged[family.name].samples.extend(samples)
                    else:
                        family.samples = samples
                        merged[family.name] = family
        yield from merged.values()
        yield gauge(
            "metamorph_admin_collector_up",
            "1 when the collector read its source",
            ["database", "collector"],
            ok,
        )
        yield gauge(
            "metamorph_admin_collector_seconds",
            "Time the collector took",
            ["database", "collector"],
            took,
        )


def render(dbs):
    """The Prometheus text exposition for the databases `dbs` ([(name, path)]), as bytes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(dbs))
    return generate_latest(registry)


def collect_jobs(db_path):
    """Jobs on this file by kind and state (failures included), when each kind last failed,
    and the progress of the running ones."""
    rows = (
        Job.objects.filter(db_path=db_path)
        .order_by()
        .values("kind", "state")
        .annotate(n=Count("id"))
    )
    yield gauge(
        "metamorph_admin_jobs",
        "Jobs recorded, by kind and state (failed = failures)",
        ["kind", "state"],
        (((r["kind"], r["state"]), r["n"]) for r in rows),
    )
    failed = (
        Job.objects.filter(db_path=db_path, state=Job.State.FAILED)
        .order_by()
        .values("kind")
        .annotate(at=Max("finished_at"))
    )
    yield gauge(
        "metamorph_admin_job_last_failure_timestamp_seconds",
        "When a job of this kind last failed (Unix time)",
        ["kind"],
        (((r["kind"],), r["at"].timestamp()) for r in failed if r["at"]),
    )
    running = Job.objects.filter(state=Job.State.RUNNING, db_path=db_path).values_list(
        "id", "kind", "done", "total"
    )
    yield gauge(
        "metamorph_admin_job_progress_ratio",
        "Progress of each running job on this file, 0 to 1",
        ["job", "kind"],
        (((str(i), k), (d / t if t else 0.0)) for i, k, d, t in running),
    )
