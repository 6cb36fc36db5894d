from django.apps import AppConfig


class MetamorphAdminConfig(AppConfig):
    name = "metamorph_admin"
    label = "metamorph_admin"
    verbose_name = "Operations core: jobs, audit, roles, locks"

    def ready(self):
        from metamorph_admin import login_audit  # noqa: F401  (connects its signal receivers)
