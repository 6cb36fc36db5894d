from django.urls import path

from migrations_ui import views, views_operations

app_name = "migrations_ui"
urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/log.txt", views.job_log, name="job_log"),
    path("jobs/start/<slug:kind>/", views.start_job, name="start_job"),
    path("migrations/", views_operations.migrations, name="migrations"),
    path("backups/", views_operations.backups, name="backups"),
    path("backups/<str:name>/", views_operations.backup_detail, name="backup"),
    path("audit/", views.audit_list, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
