"""What page tests of every app share: a real Metamorph file behind the pages, a login with a
role, starting a job through its form, and reading the job's page."""

import re

import pytest
from django.urls import reverse

from metamorph_admin.models import Job
from metamorph_admin.tests.job_helpers import user_with_role

# A result value shown as a Python or JSON literal instead of words.
LITERALS = re.compile(r">\s*(True|False|None)\s*<|\{'|\['")


@pytest.fixture
def live_db(settings, metamorph_db, tmp_path):
    """point(state) -> path: the pages (and their jobs) work on a fresh copy of that state."""

    def point(state="legacy"):
        settings.METAMORPH_DATABASE_PATH = metamorph_db(state)
        settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
        return settings.METAMORPH_DATABASE_PATH

    return point


def login(client, role):
    client.force_login(user_with_role(role))
    return client


def post_job(client, kind, **data):
    """POST the kind's form as a button does; the response."""
    return client.post(reverse("core:start_job", args=[kind]), data)


def start(client, kind, **data):
    """POST the kind's form; the job it made."""
    post_job(client, kind, **data)
    return Job.objects.filter(kind=kind).latest("id")


def job_page(client, job):
    return client.get(reverse("core:job", args=[job.pk])).content.decode()


def summary_of(html):
    return html.split('id="job-summary"')[1].split("</section>")[0]
