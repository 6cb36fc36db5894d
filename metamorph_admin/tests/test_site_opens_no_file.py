"""The proof that the site renders from the dashboard's database only: a real web process
(runserver) runs with an audit hook that records and refuses every open, sqlite3.connect
and listing of a configured Metamorph file (its -journal/-wal) and of its backup directory,
while the two databases' agents run as subprocesses beside their files."""

import re

import pytest

from metamorph_admin.tests.hosts import two_hosts, wait_for
from metamorph_admin.tests.web_process import serving

pytestmark = pytest.mark.dashboard_db

# Pages that render from the dashboard's database only (the audit hook holds them to it).
CONVERTED = [
    "/",
    "/vault/?id=user-0001",
    "/indexes/",
    "/indexes/?show=problems",
    "/health/",
    "/checks/",
    "/snapshot/status/",
    "/vaults.csv",
    "/vaults.json",
    "/jobs/",
    "/backups/",
    "/migrations/",
    "/metrics",
    "/healthz",
    "/remap/",
    "/remap/source-ids.csv?source=default-vault",
]


@pytest.fixture
def site(tmp_path, metamorph_db):
    """Two databases in two folders with an agent each, and the web process that must not
    touch either folder."""
    backups = tmp_path / "backups"
    files, env = two_hosts(tmp_path, metamorph_db, backups)
    for name in files:
        (backups / name).mkdir(parents=True)  # a folder the Backups page would list
    with serving(tmp_path, files, env, backups) as (web, session):
        yield web, session, env


def _read_in(site, session):
    """The Vaults page once its agent's first background read has stored its report."""

    def shown():
        status, html = site.get("/", session)
        return (
            status == 200
            and 'id="distinct-vaults">counting' not in html
            and ('id="distinct-vaults"' in html)
        )

    wait_for(shown, "the agent's first read to reach the Vaults page")


def _backed_up(web, key):
    """Back up now, then the Backups page and the backup's own page from the mirror."""
    status, html = web.get("/backups/", key)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    status, html = web.post(
        "/jobs/start/backup/", key, {"csrfmiddlewaretoken": csrf, "label": "proof"}
    )
    assert status == 200, html[-800:]

    def listed():
        found = re.search(r"/backups/(metamorph-backup-[0-9-]+\.db)/", web.get("/backups/", key)[1])
        return found and found.group(1)

    name = wait_for(listed, "the agent's backup to be listed on the Backups page")
    status, html = web.get(f"/backups/{name}/", key)
    assert status == 200 and name in html and "verified" in html, html[-800:]


def _remapped(web, key):
    """The Remap page once its agent read the owner columns and the plans, a preview the
    agent computes (the wait page polls until the plan is stored), the plan's page and the
    source vault's ids as the CSV of a mapping file."""
    wait_for(
        lambda: "Owner columns as read by agent pid " in web.get("/remap/", key)[1],
        "the agent's read of the owner columns",
    )
    status, html = web.get("/remap/", key)
    assert "The plans' journal as read by agent pid " in html, html[-800:]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    status, html = web.post(
        "/remap/preview/move/",
        key,
        {"csrfmiddlewaretoken": csrf, "source": "default-vault", "target": "proof-vault"},
    )
    assert status == 200, html[-800:]

    def planned():
        found = re.search(r"/remap/plan/([^/]+)/", web.get("/remap/", key)[1])
        return found and found.group(1)

    plan_id = wait_for(planned, "the agent's preview to be stored")
    wait_for(
        lambda: (
            "The plan's journal as read by agent pid " in web.get(f"/remap/plan/{plan_id}/", key)[1]
        ),
        "the agent's read of the plan's journal",
    )
    status, html = web.get(f"/remap/plan/{plan_id}/", key)
    assert 'id="execute-form"' in html, html[-800:]

    def listed():
        status, body = web.get("/remap/source-ids.csv?source=default-vault", key)
        found = re.search(r"read=(\d+)", body)
        if found:
            status, body = web.get(
                f"/remap/source-ids.csv?source=default-vault&read={found.group(1)}", key
            )
        return body.startswith("conversation_id,") and body

    assert "vault_id" in wait_for(listed, "the agent's list of the source vault's ids")


def test_the_converted_pages_and_buttons_never_open_a_metamorph_file_or_its_backups(site):
    web, session, env = site
    for name in ("staging", "production"):
        key = session(name)
        _read_in(web, key)
        _remapped(web, session(name, "ada", "admin"))
        for path in CONVERTED:
            status, html = web.get(path, key)
            assert status == 200, (path, html[-800:])
            assert "Traceback" not in html
        status, html = web.get("/health/", key)
        assert "as read by agent pid " in html  # the heartbeat's facts, and when
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        status, html = web.post(
            "/snapshot/refresh/", key, {"csrfmiddlewaretoken": csrf, "next": "/health/"}
        )
        assert status == 200 and "Recount queued" in html, html[-800:]
        _backed_up(web, key)
        assert web.touched() == [], "\n\n".join(web.touched())
