"""/metrics is off without a token and refuses a wrong one; /healthz needs no login and tells
no secrets."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from metamorph_admin.models import Job
from metamorph_admin.tests.commands import ROOT

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token-0123456789"


def test_metrics_are_off_with_a_clear_404_while_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404
    assert b"Metrics are off: set METRICS_TOKEN" in response.content


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_metrics_refuse_a_missing_or_wrong_bearer_token(client, settings, header):
    settings.METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(reverse("metrics"), **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"metamorph_" not in response.content


def test_metrics_answer_the_right_token_without_a_login(client, settings, tmp_path):
    settings.METRICS_TOKEN = TOKEN
    settings.METAMORPH_DATABASE_PATH = str(tmp_path / "none.db")
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"metamorph_admin_collector_up" in response.content


def test_a_short_metrics_token_stops_start_up_with_a_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env={
            "PATH": "/usr/bin:/bin",
            "SECRET_KEY": "k",
            "METRICS_TOKEN": "short",
            "DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
        },
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "Configuration error: METRICS_TOKEN is shorter than 16 characters"
    )
    assert "Traceback" not in result.stderr


def test_healthz_needs_no_login_and_names_no_path(client, settings, metamorph_db):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"admin_database": "ok", "metamorph_file": "ok", "task_worker": "ok"},
    }
    assert settings.METAMORPH_DATABASE_PATH.encode() not in response.content


def test_healthz_is_degraded_with_a_missing_file_or_a_stalled_worker(client, settings, tmp_path):
    settings.METAMORPH_DATABASE_PATH = str(tmp_path / "gone.db")
    job = Job.objects.create(kind="backup", db_path="x", actor="t")
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    body = client.get(reverse("healthz")).json()
    assert body == {
        "status": "degraded",
        "checks": {
            "admin_database": "ok",
            "metamorph_file": "DatabaseMissing",
            "task_worker": "stalled: 1 job(s) queued for over 5 minutes",
        },
    }


def test_check_deploy_is_clean_with_the_documented_https_settings(tmp_path):
    from metamorph_admin.tests.commands import manage

    https = {
        "SECRET_KEY": "a-long-random-deploy-key-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_COOKIES": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    done = manage("check", "--deploy", env=https, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr
    plain = manage("check", "--deploy", env={"SECRET_KEY": https["SECRET_KEY"]}, tmp_path=tmp_path)
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in plain.stderr + plain.stdout
