"""Django's admin site: its registrations load with the URLconf (SimpleAdminConfig), not at
every command's start, and show the history read-only."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root-admin", password="x" * 20)
    client.force_login(user)
    return client


def test_the_history_models_are_listed_read_only(superuser_client):
    assert superuser_client.get("/django-admin/metamorph_admin/job/").status_code == 200
    assert superuser_client.get("/django-admin/metamorph_admin/auditrecord/").status_code == 200
    assert superuser_client.get("/django-admin/metamorph_admin/job/add/").status_code == 403
