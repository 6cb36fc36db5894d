from django.urls import path

from rollouts import views

app_name = "rollouts"
urlpatterns = [
    path("rollouts/", views.rollout_list, name="list"),
    path("rollouts/new/", views.rollout_create, name="create"),
    path("rollouts/<int:pk>/", views.rollout_detail, name="detail"),
    path("rollouts/<int:pk>/settings/", views.edit_settings, name="settings"),
    path("rollouts/<int:pk>/items/<slug:key>/check/", views.run_check, name="check"),
    path("rollouts/<int:pk>/items/<slug:key>/attest/", views.attest, name="attest"),
    path("rollouts/<int:pk>/phases/<int:phase>/check/", views.run_phase_checks, name="phase_check"),
    path("rollouts/<int:pk>/phases/<int:phase>/sign/", views.sign, name="sign"),
    path("rollouts/<int:pk>/phases/<int:phase>/reopen/", views.reopen, name="reopen"),
    path("rollouts/<int:pk>/report.<slug:fmt>", views.download_report, name="report"),
]
