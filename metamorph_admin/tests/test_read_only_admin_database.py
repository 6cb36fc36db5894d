"""The dashboard's own database on a read-only filesystem: every door says so in one line."""

import json
import shutil

from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db

PAGES = """
import json
from django.test import Client
client = Client()
health = client.get("/healthz")
login = client.post("/login/", {"username": "olga", "password": "pw-pw-pw-pw-pw"})
print(json.dumps({"health": [health.status_code, health.json()],
                  "login": [login.status_code, login.content.decode()]}))
"""


def _read_only_admin(tmp_path, read_only_folder, metamorph_db):
    folder = tmp_path / "admin"
    folder.mkdir()
    shutil.copyfile(migrated_admin_db(tmp_path), folder / "admin.sqlite3")
    created = manage(
        "createoperator",
        "olga",
        "--role",
        "operator",
        "--password-from-env",
        "OLGA_PW",
        env={"DATABASE_URL": f"sqlite:///{folder / 'admin.sqlite3'}", "OLGA_PW": "pw-pw-pw-pw-pw"},
    )
    assert created.returncode == 0, created.stderr
    mounted = read_only_folder(folder)
    return {
        "DATABASE_URL": f"sqlite:///{mounted / 'admin.sqlite3'}",
        "METAMORPH_DATABASE_PATH": metamorph_db("migrated"),
        "METAMORPH_BACKUP_DIR": str(tmp_path / "backups"),
        "ALLOWED_HOSTS": "testserver",
    }, mounted


def test_healthz_login_and_backupdb_say_the_dashboards_database_is_read_only(
    tmp_path, read_only_folder, metamorph_db
):
    env, mounted = _read_only_admin(tmp_path, read_only_folder, metamorph_db)
    answers = manage("shell", "-c", PAGES, env=env)
    assert answers.returncode == 0, answers.stderr
    seen = json.loads(answers.stdout.strip().splitlines()[-1])
    assert seen["health"][0] == 503
    assert seen["health"][1]["status"] == "down"
    assert seen["health"][1]["checks"]["admin_database"] == "read-only"
    # /healthz answers without a login: the line says why, not where the file is.
    assert "cannot be written" in seen["health"][1]["problem"]
    assert str(mounted) not in seen["health"][1]["problem"]
    status, html = seen["login"]
    assert status == 503
    assert "The dashboard cannot write its own database" in html
    assert f"({mounted / 'admin.sqlite3'}) cannot be written" in html
    assert "read-only filesystem" in html

    backup = manage("backupdb", env=env)
    assert backup.returncode == 1
    lines = backup.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in backup.stderr, backup.stderr
    assert "The dashboard's own database" in lines[0] and "read-only filesystem" in lines[0]
    assert "The Metamorph database was not touched" in lines[0]
