"""A damaged Metamorph file: every page and command says so clearly, never a 500 or traceback."""

import os
import random

import pytest
from django.urls import reverse

from conftest import sql
from metamorph import backup
from metamorph.demo import build_demo_database
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import migrated_admin_db, user_with_role

# Pages that read the file's data (the others only read the schema: see the banner test).
PAGES = ["vaults:dashboard", "vaults:indexes", "vaults:health", "vaults:checks", "vaults:remap"]


def damage(path, blocks=3, size=64 * 1024, seed=8):
    """Write `blocks` runs of random bytes into the file's data, away from its header."""
    r = random.Random(seed)
    total = os.path.getsize(path)
    with open(path, "r+b") as fh:
        for i in range(blocks):
            fh.seek(int(total * (i + 1) / (blocks + 1)) // 4096 * 4096)
            fh.write(r.randbytes(size))


@pytest.fixture(scope="module")
def damaged_source(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("damaged") / "metamorph.db")
    build_demo_database(path, sessions=1200, vaults=6, state="migrated")
    damage(path)
    return path


@pytest.fixture
def damaged(damaged_source, tmp_path):
    path = str(tmp_path / "metamorph.db")
    with open(damaged_source, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    return path


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_the_damage(client, db, settings, damaged, page, tmp_path):
    settings.METAMORPH_DATABASE_PATH = damaged
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    client.force_login(user_with_role("admin"))
    response = client.get(reverse(page))
    text = response.content.decode()
    assert response.status_code == 200, text[-2000:]
    assert "The file is damaged: `database disk image is malformed` at " in text, text[-3000:]
    assert ".recover" in text and "Traceback" not in text


def test_pages_that_read_no_damaged_page_still_show_the_damage_the_background_read_found(
    client, db, settings, damaged, tmp_path
):
    settings.METAMORPH_DATABASE_PATH = damaged
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    client.force_login(user_with_role("admin"))
    client.get(reverse("vaults:dashboard"))  # queues (and in tests runs) the background read
    for page in ("migrations_ui:migrations", "migrations_ui:backups", "core:jobs"):
        text = client.get(reverse(page)).content.decode()
        assert 'id="file-problem"' in text and "database disk image is malformed" in text, page


@pytest.fixture(scope="module")
def intact_source(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("intact") / "metamorph.db")
    build_demo_database(path, sessions=1200, vaults=6, state="migrated")
    return path


def test_a_failed_background_read_replaces_the_last_good_one_on_health_and_checks(
    client, db, settings, intact_source, tmp_path
):
    path = str(tmp_path / "metamorph.db")
    with open(intact_source, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    settings.METAMORPH_DATABASE_PATH = path
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    client.force_login(user_with_role("admin"))
    client.get(reverse("vaults:health"))  # the first view queues the background read
    health = client.get(reverse("vaults:health")).content.decode()
    assert '<span class="badge ok">ok</span>' in health.split('id="quick-check"')[1][:200]

    damage(path)
    client.post(reverse("vaults:refresh"), {"next": "/health/"})
    health = client.get(reverse("vaults:health")).content.decode()
    quick = health.split('id="quick-check"')[1][:600]
    assert "badge error" in quick and "database disk image is malformed" in quick
    assert "UTC failed" in quick and "stale" in quick
    assert 'id="read-failed"' in health and "they are stale" in health
    checks = client.get(reverse("vaults:checks")).content.decode()
    assert "UTC failed" in checks and "database disk image is malformed" in checks
    assert "they are stale" in checks


COMMANDS = [
    ("vaultreport",),
    ("vaultreport", "--integrity"),
    ("vaultreport", "--json"),
    ("remapvaults", "--owners"),
    ("remapvaults", "--audit"),
    ("remapvaults", "--move", "alice"),
    ("runmigration", "--verify"),
    ("runmigration", "--rehearse"),
    ("backupdb",),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_every_command_names_the_damage_without_a_traceback(damaged, tmp_path, args):
    admin = migrated_admin_db(tmp_path)
    done = manage(
        *args,
        "--db",
        damaged,
        env={"DATABASE_URL": f"sqlite:///{admin}", "METAMORPH_BACKUP_DIR": str(tmp_path / "b")},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    assert "The file is damaged: `" in output and ".recover" in output, output[-2000:]


def test_the_damage_message_names_the_backup_and_restoring_it_repairs_the_file(
    client, db, settings, intact_source, tmp_path
):
    path = str(tmp_path / "metamorph.db")
    with open(intact_source, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    backups = str(tmp_path / "backups")
    made = backup.run_backup(path, backups)
    damage(path)
    settings.METAMORPH_DATABASE_PATH, settings.METAMORPH_BACKUP_DIR = path, backups
    client.force_login(user_with_role("admin"))
    page = client.get(reverse("vaults:remap")).content.decode()
    assert f"restore backup {made['name']}" in page

    admin = migrated_admin_db(tmp_path)
    done = manage(
        "restorebackup",
        made["name"],
        "--db",
        path,
        "--yes",
        env={"DATABASE_URL": f"sqlite:///{admin}", "METAMORPH_BACKUP_DIR": backups},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "The file it replaced was damaged" in done.stdout and ".recover" in done.stdout
    kept = os.listdir(os.path.join(backups, "damaged"))
    assert len(kept) == 1
    assert os.stat(os.path.join(backups, "damaged", kept[0])).st_mode & 0o777 == 0o600
    assert sql(path, "PRAGMA integrity_check") == [("ok",)]
    assert [b["name"] for b in backup.list_backups(backups)] == [made["name"]]
