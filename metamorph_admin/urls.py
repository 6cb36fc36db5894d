from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from metamorph_admin import views_monitoring
from metamorph_admin.database_views import switch_database
from metamorph_admin.login_throttle import ThrottledLoginView

admin.autodiscover()  # SimpleAdminConfig (settings.py): the admin.py modules load here

urlpatterns = [
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("metrics", views_monitoring.metrics, name="metrics"),
    path("healthz", views_monitoring.healthz, name="healthz"),
    path("database/switch/", switch_database, name="switch_database"),
    path("", include("vaults.urls")),
    path("", include("migrations_ui.urls")),
    path("", include("metamorph_admin.core_urls")),
    path("", include("rollouts.urls")),
]
