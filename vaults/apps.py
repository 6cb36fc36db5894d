from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = "Vaults dashboard"

    def ready(self):
        from metamorph_admin import metric_sources
        from vaults.job_kinds import register_kinds  # app registry must be ready first

        register_kinds()
        metric_sources.register("vaults", "vaults.metrics.collect")
