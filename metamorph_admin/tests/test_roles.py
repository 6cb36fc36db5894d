"""Roles: groups from the data migration, 403 pages naming the role, createoperator."""

import os
import select
import sqlite3
import subprocess
import sys
import time

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from metamorph_admin import roles
from metamorph_admin.models import AuditRecord, Job
from metamorph_admin.tests.commands import ROOT, manage
from metamorph_admin.tests.job_helpers import (  # noqa: F401
    migrated_admin_db,
    subprocess_env,
    test_kinds,
    user_with_role,
)

pytestmark = pytest.mark.django_db


def _perms(group):
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_the_data_migration_creates_the_three_roles_as_roles_py_defines_them():
    for role, perms in roles.ROLES.items():
        assert _perms(Group.objects.get(name=role)) == set(perms)


@pytest.mark.parametrize(
    "role, perm, allowed",
    [
        ("viewer", "vaults.request_snapshot", True),
        ("viewer", "metamorph_admin.run_backup", False),
        ("operator", "metamorph_admin.run_backup", True),
        ("operator", "metamorph_admin.run_rehearsal", True),
        ("operator", "metamorph_admin.run_migration", False),
        ("operator", "metamorph_admin.view_audit", False),
        ("admin", "metamorph_admin.restore_backup", True),
        ("admin", "metamorph_admin.signoff_rollout", True),
        ("admin", "metamorph_admin.view_audit", True),
    ],
)
def test_each_role_has_exactly_its_permissions(role, perm, allowed):
    assert user_with_role(role).has_perm(perm) is allowed


def test_a_viewer_posting_an_operator_action_gets_a_403_page_naming_the_operator_role(
    client, test_kinds
):
    client.force_login(user_with_role("viewer", "vera"))
    response = client.post(reverse("core:start_job", args=["test-mutation"]))
    html = response.content.decode()
    assert response.status_code == 403 and "<title>Not allowed" in html
    assert (
        "You need the operator role (or higher) to run backups. Your account has the "
        "viewer role. Ask an admin to run `python manage.py createoperator vera --role "
        "operator`."
    ) in html
    assert not Job.objects.exists()
    refused = AuditRecord.objects.get()
    assert (refused.actor, refused.action, refused.outcome) == ("vera", "test-mutation", "refused")


def test_an_operator_may_start_the_same_action(client, test_kinds):
    client.force_login(user_with_role("operator"))
    response = client.post(reverse("core:start_job", args=["test-mutation"]))
    assert response.status_code == 302 and Job.objects.get().state == "succeeded"


def test_an_unknown_job_kind_is_a_404_not_a_500(client):
    client.force_login(user_with_role("admin"))
    assert client.post(reverse("core:start_job", args=["nope"])).status_code == 404


def test_starting_a_job_needs_post_and_csrf(client, test_kinds):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user_with_role("operator"))
    url = reverse("core:start_job", args=["test-mutation"])
    assert csrf_client.get(url).status_code == 405
    assert csrf_client.post(url).status_code == 403 and not Job.objects.exists()


def test_a_user_without_a_role_cannot_request_a_recount_and_is_told_to_get_viewer(client):
    client.force_login(user_with_role(None, "nobody"))
    response = client.post(reverse("vaults:refresh"))
    assert response.status_code == 403
    assert "You need the viewer role (or higher) to request a recount" in response.content.decode()
    assert AuditRecord.objects.get().outcome == "refused"


def test_a_viewers_recount_is_audited(client, settings, metamorph_db):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    client.force_login(user_with_role("viewer", "vera"))
    assert client.post(reverse("vaults:refresh")).status_code == 302
    record = AuditRecord.objects.get()
    assert (record.actor, record.action, record.outcome, record.target) == (
        "vera",
        "request-recount",
        "requested",
        settings.METAMORPH_DATABASE_PATH,
    )
    assert record.remote_addr == "127.0.0.1"


def _groups_of(admin_db, username):
    conn = sqlite3.connect(admin_db)
    try:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT g.name FROM auth_user u JOIN auth_user_groups ug ON ug.user_id = u.id "
                "JOIN auth_group g ON g.id = ug.group_id WHERE u.username = ?",
                (username,),
            )
        )
    finally:
        conn.close()


def test_createoperator_creates_a_user_with_one_role_and_a_password_from_the_environment(tmp_path):
    admin_db = migrated_admin_db(tmp_path, operator=False)
    env = {"DATABASE_URL": f"sqlite:///{admin_db}", "OP_PASSWORD": "correct horse battery"}
    made = manage(
        "createoperator",
        "olga",
        "--role",
        "operator",
        "--password-from-env",
        "OP_PASSWORD",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "Created olga with the operator role."
    assert _groups_of(admin_db, "olga") == ["operator"]
    changed = manage("createoperator", "olga", "--role", "admin", env=env)
    assert changed.stdout.strip() == "Updated olga with the admin role (password unchanged)."
    assert _groups_of(admin_db, "olga") == ["admin"]
    conn = sqlite3.connect(admin_db)
    assert conn.execute("SELECT password LIKE 'pbkdf2_%' FROM auth_user").fetchone() == (1,)
    assert conn.execute(
        "SELECT action, origin, outcome, target, parameters FROM "
        "migrations_ui_auditrecord ORDER BY id"
    ).fetchall() == [
        (
            "set-role",
            "cli",
            "success",
            "olga",
            '{"role": "operator", "created": true, "login": "password set"}',
        ),
        (
            "set-role",
            "cli",
            "success",
            "olga",
            '{"role": "admin", "created": false, "login": "password unchanged"}',
        ),
    ]


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--role", "root"], {}, "Unknown role 'root': choose one of viewer, operator, admin."),
        (
            ["--role", "viewer"],
            {},
            "No password for the new user olga: pass --password-from-env VAR, run the command in a "
            "terminal to be prompted, or --no-password.",
        ),
        (
            ["--role", "viewer", "--password-from-env", "MISSING"],
            {},
            "Environment variable MISSING is not set or empty.",
        ),
        (["--role", "viewer", "--password-from-env", "PW"], {"PW": "123"}, "Password refused: "),
    ],
)
def test_createoperator_rejects_bad_input_with_a_clear_message(tmp_path, args, env, message):
    admin_db = migrated_admin_db(tmp_path, operator=False)
    result = manage(
        "createoperator", "olga", *args, env={"DATABASE_URL": f"sqlite:///{admin_db}", **env}
    )
    assert result.returncode != 0 and f"CommandError: {message}" in result.stderr
    assert "Traceback" not in result.stderr and _groups_of(admin_db, "olga") == []


def test_createoperator_rejects_a_username_django_would_not_accept(tmp_path):
    admin_db = migrated_admin_db(tmp_path, operator=False)
    result = manage(
        "createoperator",
        "bad name!",
        "--role",
        "viewer",
        "--no-password",
        env={"DATABASE_URL": f"sqlite:///{admin_db}"},
    )
    assert result.returncode != 0 and "Invalid username 'bad name!'" in result.stderr


def _expect(fd, text, seen, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in seen[0]:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"{text!r} never appeared in {seen[0]!r}")
        try:
            seen[0] += os.read(fd, 1024).decode()
        except OSError:  # the child closed the terminal
            raise AssertionError(f"{text!r} never appeared in {seen[0]!r}") from None


def test_createoperator_prompts_twice_for_the_password_on_a_terminal(tmp_path):
    admin_db = migrated_admin_db(tmp_path, operator=False)
    controller, terminal = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "createoperator", "tess", "--role", "viewer"],
        cwd=ROOT,
        env=subprocess_env(admin_db),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = [""]
    try:
        for prompt in ("Password: ", "Password (again): "):
            _expect(controller, prompt, seen)
            os.write(controller, b"correct horse battery\n")
        _expect(controller, "Created tess with the viewer role.", seen)
    finally:
        proc.wait(timeout=30)
        os.close(controller)
    assert "correct horse battery" not in seen[0]  # not echoed
    assert _groups_of(admin_db, "tess") == ["viewer"]
