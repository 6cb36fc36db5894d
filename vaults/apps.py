from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = "Vaults dashboard"

    def ready(self):
        from vaults.job_kinds import register_kinds  # app registry must be ready first

        register_kinds()
