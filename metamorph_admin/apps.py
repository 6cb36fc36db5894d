from django.apps import AppConfig


class MetamorphAdminConfig(AppConfig):
    name = "metamorph_admin"
    label = "metamorph_admin"
    verbose_name = "Operations core: jobs, audit, roles, locks"
