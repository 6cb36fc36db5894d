from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = "Vaults dashboard"

    def ready(self):
        from metamorph_admin import metrics
        from vaults import metrics as vault_metrics
        from vaults.job_kinds import register_kinds  # app registry must be ready first

        register_kinds()
        metrics.register("vaults", vault_metrics.collect)
