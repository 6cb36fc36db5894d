from django.urls import path

from vaults import views

app_name = "vaults"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("vault/", views.vault_detail, name="vault"),
    path("indexes/", views.indexes, name="indexes"),
    path("health/", views.health, name="health"),
    path("checks/", views.checks, name="checks"),
    path("snapshot/status/", views.snapshot_status, name="snapshot_status"),
    path("snapshot/refresh/", views.refresh, name="refresh"),
]
