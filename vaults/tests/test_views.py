"""The pages: login, numbers equal to the file, clear problems instead of 500s."""

import os
import sqlite3

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from conftest import sql
from vaults.models import Snapshot

PAGES = ["vaults:dashboard", "vaults:indexes", "vaults:health", "vaults:checks"]


@pytest.fixture
def viewer(db):
    user = User.objects.create_user("vera", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="request_snapshot"))
    return user


@pytest.fixture
def logged_in(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def use_db(settings):
    def point(path):
        settings.METAMORPH_DATABASE_PATH = path
        return path

    return point


@pytest.mark.parametrize("name", PAGES + ["vaults:snapshot_status"])
def test_every_page_needs_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_every_database_state(logged_in, use_db, metamorph_db, name):
    for state in ("legacy", "autoupgraded", "fresh", "migrated"):
        use_db(metamorph_db(state))
        response = logged_in.get(reverse(name))
        assert response.status_code == 200, state
        assert b"Cannot read the Metamorph database" not in response.content


def test_dashboard_matrix_cells_equal_the_files_counts(logged_in, use_db, metamorph_db):
    path = use_db(metamorph_db("migrated", vaults=6))
    response = logged_in.get("/")
    counts = response.context["counts"]
    expected = dict(sql(path, "SELECT vault_id, COUNT(*) FROM messages GROUP BY 1"))
    assert counts["tables"]["messages"]["by_vault"] == expected
    matrix = response.context["matrix"]
    col = matrix["tables"].index("messages")
    for row in matrix["rows"]:
        assert row["cells"][col] == expected[row["vault"]]
    assert Snapshot.objects.filter(state="done", db_path=path).exists()


def test_dashboard_filters_vaults_by_substring(logged_in, use_db, metamorph_db):
    use_db(metamorph_db("migrated", vaults=6))
    response = logged_in.get("/", {"q": "0003"})
    assert [r["vault"] for r in response.context["matrix"]["rows"]] == ["user-0003"]
    assert "1 vault matching; showing 1–1" in response.content.decode()


def test_legacy_dashboard_lists_tables_as_not_migrated_with_totals(logged_in, use_db, metamorph_db):
    path = use_db(metamorph_db("legacy"))
    html = logged_in.get("/").content.decode()
    total = sql(path, "SELECT COUNT(*) FROM messages")[0][0]
    assert "not migrated" in html and f'<td class="num">{total:,}</td>' in html
    assert "steering_messages" in html  # listed among the absent tables


def test_vault_page_escapes_odd_vault_ids(logged_in, use_db, metamorph_db):
    path = use_db(metamorph_db("migrated"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sessions SET vault_id = '<b>x</b>' WHERE rowid = 1")
    conn.commit()
    conn.close()
    response = logged_in.get(reverse("vaults:vault"), {"id": "<b>x</b>"})
    assert b"&lt;b&gt;x&lt;/b&gt;" in response.content and b"<b>x</b>" not in response.content
    assert response.context["page"]["total"] == 1


def test_vault_page_for_an_unknown_vault_says_so(logged_in, use_db, metamorph_db):
    use_db(metamorph_db("migrated"))
    response = logged_in.get(reverse("vaults:vault"), {"id": "nobody"})
    assert b"No rows carry the vault id" in response.content


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "No Metamorph database at"),
        (lambda p: os.mkdir(p), "is a directory"),
        (lambda p: open(p, "w").write("not a database at all, just text " * 4), "not an SQLite"),
        (lambda p: open(p, "w").close(), "empty SQLite database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE invoices (id)"), "not Metamorph"),
    ],
)
@pytest.mark.parametrize("name", PAGES)
def test_bad_database_files_show_a_problem_page_not_a_500(
    logged_in, use_db, tmp_path, make, words, name
):
    path = use_db(str(tmp_path / "metamorph.db"))
    make(path)
    response = logged_in.get(reverse(name))
    assert response.status_code == 200
    assert words in response.content.decode()


def test_recount_needs_its_permission(client, db, use_db, metamorph_db):
    use_db(metamorph_db("migrated"))
    client.force_login(User.objects.create_user("nobody", password="pw"))
    response = client.post(reverse("vaults:refresh"))
    assert response.status_code == 403


def test_recount_queues_a_background_read_that_fills_the_cache(logged_in, use_db, metamorph_db):
    path = use_db(metamorph_db("migrated"))
    response = logged_in.post(reverse("vaults:refresh"), {"next": "/checks/"})
    assert response.status_code == 302 and response.url == "/checks/"
    snap = Snapshot.objects.filter(db_path=path).first()
    assert snap.state == "done" and snap.payload["integrity"]["ok"] is True


def test_recount_refuses_to_redirect_off_site(logged_in, use_db, metamorph_db):
    use_db(metamorph_db("migrated"))
    response = logged_in.post(reverse("vaults:refresh"), {"next": "//evil.example/"})
    assert response.url == "/"


def test_full_integrity_check_result_appears_on_the_health_page(client, db, use_db, metamorph_db):
    from metamorph_admin.tests.job_helpers import user_with_role

    use_db(metamorph_db("migrated"))
    client.force_login(user_with_role("operator"))
    client.post(reverse("core:start_job", args=["integrity-check"]))
    html = client.get(reverse("vaults:health")).content.decode()
    assert 'id="integrity-check"><span class="badge ok">ok</span>' in html


def test_a_background_read_that_fails_shows_its_message(logged_in, use_db, tmp_path):
    use_db(str(tmp_path / "gone.db"))
    logged_in.post(reverse("vaults:refresh"))
    html = logged_in.get(reverse("vaults:snapshot_status")).content.decode()
    assert "The background read of <time" in html and "</time> failed: " in html
    assert "No Metamorph database at" in html


def test_health_page_names_the_process_holding_the_write_lock(logged_in, use_db, metamorph_db):
    from metamorph.testing.lockers import Locker

    path = use_db(metamorph_db("migrated"))
    with Locker(path) as locker:
        html = logged_in.get(reverse("vaults:health")).content.decode()
    assert f"process {locker.pid} has an open write transaction" in html
