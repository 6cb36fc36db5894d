from django.apps import AppConfig


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations, backups and rollout"

    def ready(self):
        from migrations_ui import login_audit  # noqa: F401  (connects its signal receivers)
