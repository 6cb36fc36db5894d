from django.apps import AppConfig

from metamorph.errors import DamagedDatabase
from metamorph_admin import collector
from metamorph_admin.damage import newest_backup_name


class MetamorphAdminConfig(AppConfig):
    name = "metamorph_admin"
    label = "metamorph_admin"
    verbose_name = "Operations core: jobs, audit, roles, locks"

    def ready(self):
        from metamorph_admin import (
            login_audit,  # noqa: F401  (connects its signal receivers)
            metric_sources,
        )

        metric_sources.register("jobs", "metamorph_admin.metrics.collect_jobs")

        # A damaged file's message names the backup that repairs it.
        DamagedDatabase.newest_backup = staticmethod(newest_backup_name)
        collector.resume()  # every model is imported: start-up's objects are made
