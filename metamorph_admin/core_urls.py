from django.urls import path

from metamorph_admin import views

app_name = "core"
urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/wait/", views.job_wait, name="job_wait"),
    path("jobs/<int:pk>/log.txt", views.job_log, name="job_log"),
    path("jobs/start/<slug:kind>/", views.start_job, name="start_job"),
    path("audit/", views.audit_list, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/unlock/", views.login_unlock, name="login_unlock"),
]
