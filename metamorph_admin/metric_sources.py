"""Where each app's Prometheus collector lives, registered in AppConfig.ready() by dotted path.

Kept apart from `metamorph_admin.metrics` so that registering imports nothing: prometheus_client
and each app's collector module load on the first scrape, not in every command's start-up.
"""

from collections.abc import Callable, Iterable

from django.utils.module_loading import import_string

Collect = Callable[[str], Iterable]
SOURCES: dict[str, str] = {}


def register(name: str, dotted_path: str) -> None:
    """Add (or replace) the collector `name`: `dotted_path` names `collect(db_path)`."""
    SOURCES[name] = dotted_path


def collectors() -> dict[str, Collect]:
    """Each registered collector, imported."""
    return {name: import_string(path) for name, path in SOURCES.items()}
