from django.urls import path

from migrations_ui import views

app_name = "migrations_ui"
urlpatterns = [
    path("migrations/", views.migrations, name="migrations"),
    path("backups/", views.backups, name="backups"),
    path("backups/<str:name>/", views.backup_detail, name="backup"),
]
