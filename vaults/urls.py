from django.urls import path

from vaults import views, views_remap

app_name = "vaults"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("vaults.<str:fmt>", views.matrix_export, name="matrix_export"),
    path("vault/", views.vault_detail, name="vault"),
    path("indexes/", views.indexes, name="indexes"),
    path("health/", views.health, name="health"),
    path("checks/", views.checks, name="checks"),
    path("snapshot/status/", views.snapshot_status, name="snapshot_status"),
    path("snapshot/refresh/", views.refresh, name="refresh"),
    path("remap/", views_remap.remap_index, name="remap"),
    path("remap/source-ids.csv", views_remap.remap_source_ids, name="remap_source_ids"),
    path("remap/preview/<slug:kind>/", views_remap.remap_preview, name="remap_preview"),
    path(
        "remap/preview/wait/<int:read_id>/",
        views_remap.remap_preview_wait,
        name="remap_preview_wait",
    ),
    path("remap/plan/<str:plan_id>/", views_remap.remap_plan, name="remap_plan"),
    path(
        "remap/plan/<str:plan_id>/mapping-ids.csv",
        views_remap.remap_mapping_ids,
        name="remap_mapping_ids",
    ),
]
