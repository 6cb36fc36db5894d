from django.apps import AppConfig


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations and backups"

    def ready(self):
        from metamorph_admin import metric_sources
        from migrations_ui.job_kinds import register_kinds  # app registry must be ready first

        register_kinds()
        metric_sources.register("backups", "migrations_ui.metrics.collect")
