from django.apps import AppConfig


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations and backups"

    def ready(self):
        from metamorph_admin import metrics
        from migrations_ui import metrics as backup_metrics
        from migrations_ui.job_kinds import register_kinds  # app registry must be ready first

        register_kinds()
        metrics.register("backups", backup_metrics.collect)
