"""Every URL as every role, compared with the permission table in docs/security.md: the
table an auditor reads is the one the code keeps."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import get_resolver, resolve

from metamorph.remap import MoveVault
from metamorph_admin.tests.job_helpers import user_with_role
from rollouts.tests.helpers import make_rollout, operate
from vaults.services import remap as remap_service

TABLE = Path(__file__).resolve().parents[2] / "docs" / "security.md"
ROLES = ["anonymous", "no role", "viewer", "operator", "admin"]
ROW = re.compile(r"\| (GET|POST) (\S+)(?: \([^)]*\))? \|(.*)\|$")


def permission_table():
    text = TABLE.read_text()
    body = text.split("<!-- permission-table -->")[1].split("<!-- /permission-table -->")[0]
    rows = []
    for line in body.splitlines():
        match = ROW.match(line.strip())
        if match:
            cells = [c.strip() for c in match.group(3).split("|")]
            assert len(cells) == len(ROLES), line
            rows.append((match.group(1), match.group(2), dict(zip(ROLES, cells, strict=True))))
    return rows


def _answer(response):
    """What the table calls the response: login, ok, or the status."""
    status = response.status_code
    if status == 302 and "/login/" in response["Location"]:
        return "login"
    return str(status)


def _matches(expected, got, status):
    if expected == "ok":  # allowed: ran, or answered with its own form error or redirect
        return got not in ("login", "403") and status < 500
    return got == expected


@pytest.fixture
def world(db, settings, metamorph_db, tmp_path):
    staging, production = metamorph_db("migrated"), metamorph_db("migrated")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_DATABASE_PATH = staging
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    settings.METRICS_TOKEN = ""
    users = {role: user_with_role(role, f"{role}-user") for role in ("viewer", "operator", "admin")}
    users["no role"] = User.objects.create_user("nobody", password="pw")
    backup = operate("backup", staging, "operator-user")
    plan = remap_service.preview(staging, MoveVault("team-x", "default-vault"), "admin-user")
    rollout = make_rollout(actor="admin-user")
    return {
        "users": users,
        "{rollout}": str(rollout.pk),
        "{job}": str(backup.pk),
        "{backup}": backup.result["name"],
        "{plan}": plan.plan_id,
    }


def _client(world, role):
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def _named_patterns(patterns, namespace=""):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            if p.namespace != "admin":  # Django's own admin site: superusers only
                yield from _named_patterns(p.url_patterns, p.namespace or namespace)
        elif p.name:
            yield f"{namespace}:{p.name}" if namespace else p.name


def test_the_permission_table_lists_every_url_of_the_site(db):
    placeholders = {"{rollout}": "1", "{job}": "1", "{backup}": "b", "{plan}": "p"}
    listed = set()
    for _, path, _ in permission_table():
        for key, value in placeholders.items():
            path = path.replace(key, value)
        if not path.startswith("/django-admin/"):
            listed.add(resolve(path.split("?")[0]).view_name)
    missing = set(_named_patterns(get_resolver().url_patterns)) - listed
    assert not missing, f"URLs missing from the table in docs/security.md: {sorted(missing)}"


def test_every_url_answers_every_role_as_the_table_says(world):
    wrong = []
    for method, path, expected in permission_table():
        for key, value in world.items():
            if key.startswith("{"):
                path = path.replace(key, value)
        for role in ROLES:
            client = _client(world, role)
            response = client.get(path) if method == "GET" else client.post(path, {})
            got = _answer(response)
            if not _matches(expected[role], got, response.status_code):
                wrong.append(f"{method} {path} as {role}: table says {expected[role]}, got {got}")
    assert not wrong, "\n".join(wrong)
