"""Pages that know their state: plans, next steps, sorted/exported matrix, index problems."""

import csv
import io
import json
import os
import re

import pytest
from django.urls import reverse

from conftest import sql
from metamorph_admin.models import Job
from metamorph_admin.tests.job_helpers import killed_process, user_with_role
from vaults.models import RemapPlanRecord, Snapshot
from vaults.services import snapshots

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, settings, tmp_path):
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")

    def login(role):
        client.force_login(user_with_role(role))
        return client

    return login


def use(settings, path):
    settings.METAMORPH_DATABASE_PATH = path
    return path


def plan_page(client, plan_id):
    return client.get(reverse("vaults:remap_plan", args=[plan_id])).content.decode()


def state_of(html):
    return re.search(r'id="plan-status" data-state="([^"]+)"', html).group(1)


def start(client, kind, **data):
    return client.post(reverse("core:start_job", args=[kind]), data)


def test_a_plan_offers_only_what_its_state_allows_from_preview_to_undone(
    as_role, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    admin = as_role("admin")
    admin.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "default-vault", "target": "erin"},
    )
    record = RemapPlanRecord.objects.get()
    html = plan_page(admin, record.plan_id)
    assert state_of(html) == "previewed" and "unknown" not in html
    assert 'id="execute-form"' in html and 'id="undo-form"' not in html
    assert '<code class="confirm-name">' + os.path.basename(path) + "</code>" in html
    listing = admin.get(reverse("vaults:remap")).content.decode()
    assert "previewed, not run" in listing

    start(admin, "remap", plan_id=record.plan_id, mode="online", confirm=os.path.basename(path))
    moved = Job.objects.get(kind="remap").result["moved"]
    html = plan_page(admin, record.plan_id)
    assert state_of(html) == "completed"
    assert 'id="execute-form"' not in html and 'id="undo-form"' in html
    # "moved" per table equals what the job moved, right after completion
    for table, n in moved.items():
        cell = re.search(
            rf'data-table="{table}">.*?<td class="num moved">([\d,]+)</td>', html, re.S
        ).group(1)
        assert cell == f"{n:,}"
    assert ">completed<" in admin.get(reverse("vaults:remap")).content.decode()

    start(admin, "remap-undo", plan_id=record.plan_id, confirm=os.path.basename(path))
    html = plan_page(admin, record.plan_id)
    assert state_of(html) == "undone"
    assert 'id="execute-form"' not in html and 'id="undo-form"' not in html
    assert "preview a new plan" in html


def test_a_missing_plan_is_a_404_inside_the_site(as_role, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    response = as_role("viewer").get("/remap/plan/does-not-exist/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="not-found"' in html and "<nav>" in html and "does-not-exist" in html


def test_an_unknown_url_is_the_sites_404_page(as_role):
    response = as_role("viewer").get("/no/such/page/")
    assert response.status_code == 404
    assert 'id="not-found"' in response.content.decode()


def test_a_viewer_sees_the_remap_forms_disabled_with_the_role_needed(
    as_role, settings, metamorph_db
):
    use(settings, metamorph_db("migrated"))
    html = as_role("viewer").get(reverse("vaults:remap")).content.decode()
    buttons = re.findall(r"<button type=\"submit\" ([^>]*)>Preview</button>", html)
    assert buttons and all("disabled" in b and "Needs the admin role" in b for b in buttons)
    html = as_role("admin").get(reverse("vaults:remap")).content.decode()
    buttons = re.findall(r"<button type=\"submit\" ([^>]*)>Preview</button>", html)
    assert buttons and not any("disabled" in b for b in buttons)


@pytest.mark.parametrize(
    "state, step",
    [("legacy", "legacy"), ("autoupgraded", "partial"), ("migrated", "migrated-legacy-data")],
)
def test_the_vaults_page_says_what_to_do_next_for_each_state_of_the_file(
    as_role, settings, metamorph_db, state, step
):
    use(settings, metamorph_db(state))
    html = as_role("viewer").get("/").content.decode()
    assert re.search(r'id="next-step" data-state="([^"]+)"', html).group(1) == step


def test_after_a_remap_the_next_step_is_the_isolation_audit(as_role, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    for t in [
        r[0]
        for r in sql(
            path, "SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%vault_id%'"
        )
    ]:
        sql_write(path, f"UPDATE {t} SET vault_id = 'erin' WHERE vault_id = 'default-vault'")
    html = as_role("viewer").get("/").content.decode()
    assert 'data-state="remapped"' in html and "#isolation-audit" in html


def sql_write(path, query):
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        conn.execute(query)
    conn.close()


def test_more_than_is_only_mentioned_when_a_count_is_a_floor(as_role, settings, metamorph_db):
    use(settings, metamorph_db("migrated"))
    viewer = as_role("viewer")
    viewer.get("/")  # the immediate task backend fills the cache
    Snapshot.objects.create(db_path=settings.METAMORPH_DATABASE_PATH)  # a read under way
    html = viewer.get("/").content.decode()
    assert "Background read" in html and "updates itself" in html
    assert "more than" not in html


def test_the_status_poll_tells_htmx_to_reload_once_the_read_finished(
    as_role, settings, metamorph_db
):
    use(settings, metamorph_db("migrated"))
    viewer = as_role("viewer")
    snap = Snapshot.objects.create(db_path=settings.METAMORPH_DATABASE_PATH)
    url = reverse("vaults:snapshot_status")
    polling = viewer.get(url, headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in polling.content.decode() and "HX-Refresh" not in polling
    snapshots.take_snapshot(snap.id)
    done = viewer.get(url, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"


def test_a_page_recounts_by_itself_after_our_job_changed_the_file(as_role, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated"))
    viewer = as_role("viewer")
    viewer.get("/")
    first = Snapshot.objects.get()
    sql_write(
        path,
        "UPDATE messages SET vault_id = 'erin' WHERE rowid IN (SELECT rowid FROM messages LIMIT 3)",
    )
    os.utime(path)
    viewer.get("/")  # the file changed, but the last read is fresh and no job of ours did it
    assert Snapshot.objects.count() == 1
    Job.objects.create(
        kind="remap",
        db_path=path,
        actor="ada",
        state="succeeded",
        finished_at=first.finished_at.replace(year=first.finished_at.year + 1),
    )
    viewer.get("/")
    assert Snapshot.objects.count() == 2


def matrix(settings, metamorph_db):
    return use(settings, metamorph_db("migrated", vaults=6))


def test_the_matrix_sorts_by_any_column_both_ways(as_role, settings, metamorph_db):
    path = matrix(settings, metamorph_db)
    viewer = as_role("viewer")
    html = viewer.get("/?sort=vault&dir=asc").content.decode()
    order = re.findall(r'<tr data-vault="([^"]+)">', html)
    assert order == sorted(order) and len(order) > 3
    html = viewer.get("/?sort=messages&dir=desc").content.decode()
    order = re.findall(r'<tr data-vault="([^"]+)">', html)
    by_vault = dict(sql(path, "SELECT vault_id, COUNT(*) FROM messages GROUP BY vault_id"))
    counts = [by_vault.get(v, 0) for v in order]
    assert counts == sorted(counts, reverse=True)
    assert 'aria-sort="descending"' in html
    assert viewer.get("/?sort=nonsense&dir=sideways").status_code == 200


def test_the_matrix_exports_as_csv_and_json_with_the_files_numbers(as_role, settings, metamorph_db):
    path = matrix(settings, metamorph_db)
    viewer = as_role("viewer")
    by_vault = dict(sql(path, "SELECT vault_id, COUNT(*) FROM messages GROUP BY vault_id"))
    response = viewer.get(reverse("vaults:matrix_export", args=["csv"]) + "?sort=vault&dir=asc")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:-1]
    col = header.index("messages")
    assert {r[0]: int(r[col]) for r in body} == {v: by_vault.get(v, 0) for v in by_vault}
    assert [r[0] for r in body] == sorted(r[0] for r in body)
    data = json.loads(viewer.get(reverse("vaults:matrix_export", args=["json"])).content)
    assert {v["vault"]: v["tables"]["messages"] for v in data["vaults"]} == {
        v: by_vault.get(v, 0) for v in by_vault
    }
    assert viewer.get(reverse("vaults:matrix_export", args=["xml"])).status_code == 404


def test_numbers_have_thousands_separators(as_role, settings, metamorph_db):
    path = use(settings, metamorph_db("migrated", sessions=200))
    total = sum(n for (n,) in sql(path, "SELECT COUNT(*) FROM messages"))
    assert total >= 1000
    html = as_role("viewer").get("/").content.decode()
    assert f"{total:,}" in html and f">{total}<" not in html


def test_the_indexes_page_puts_problems_first_with_each_fix_said_once(
    as_role, settings, metamorph_db
):
    use(settings, metamorph_db("legacy"))
    viewer = as_role("viewer")
    html = viewer.get(reverse("vaults:indexes")).content.decode()
    problems = html.split('id="index-problems"')[1].split("</section>")[0]
    assert problems.count("runmigration --migration=001_add_vault_id") == 1
    table = html.split('id="expected-indexes"')[1]
    statuses = re.findall(r'data-status="([^"]+)"', table)
    assert statuses[0] == "pending" and statuses.index("pending") < len(statuses)
    assert table.count("runmigration") == 0  # the fix is said once, above the table
    only = viewer.get(reverse("vaults:indexes") + "?show=problems").content.decode()
    only_statuses = set(
        re.findall(r'data-status="([^"]+)"', only.split('id="expected-indexes"')[1])
    )
    assert only_statuses == {"pending"} and 'id="redundant-indexes"' not in only


def test_checks_render_commands_as_code_and_link_to_the_page_that_fixes_them(
    as_role, settings, metamorph_db
):
    use(settings, metamorph_db("legacy"))
    html = as_role("viewer").get(reverse("vaults:checks")).content.decode()
    finding = html.split('data-check="partial_migration"')[1].split('<div class="finding')[0]
    assert "`" not in finding and "<code>python manage.py runmigration" in finding
    assert f'href="{reverse("migrations_ui:migrations")}#run-form"' in finding


def test_an_unexpected_error_is_the_sites_500_page(client, settings, metamorph_db, monkeypatch):
    use(settings, metamorph_db("migrated"))
    client.force_login(user_with_role("viewer"))
    client.raise_request_exception = False

    def broken(db_path):
        raise RuntimeError("a bug")

    monkeypatch.setattr("vaults.selectors.overview", broken)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 500
    assert 'id="server-error"' in html and "metamorph-admin" in html and "a bug" not in html


def _move_plan_with_job(admin, path, **job):
    """A previewed move of default-vault to erin, and a remap job of it in `job`'s state."""
    admin.post(
        reverse("vaults:remap_preview", args=["move"]),
        {"source": "default-vault", "target": "erin"},
    )
    record = RemapPlanRecord.objects.get()
    made = Job.objects.create(
        kind="remap", db_path=path, actor="ada", parameters={"plan_id": record.plan_id}, **job
    )
    return record, made


def test_a_plan_whose_job_is_queued_offers_nothing_and_follows_the_job(
    as_role, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    admin = as_role("admin")
    record, job = _move_plan_with_job(admin, path, state="queued")
    html = plan_page(admin, record.plan_id)
    assert state_of(html) == "queued"
    assert 'id="execute-form"' not in html and 'id="undo-form"' not in html
    assert reverse("core:job_wait", args=[job.pk]) in html


def test_the_audit_page_is_greyed_in_a_viewers_nav_with_the_role_it_needs(
    as_role, settings, metamorph_db
):
    use(settings, metamorph_db("migrated"))
    html = as_role("viewer").get("/").content.decode()
    assert '<span class="nav-off" title="Needs the admin role">Audit</span>' in html
    assert 'href="/audit/"' not in html
    assert 'href="/audit/"' in as_role("admin").get("/").content.decode()


def test_the_vaults_page_follows_a_job_changing_the_file_and_reloads_when_it_ends(
    as_role, settings, metamorph_db
):
    path = use(settings, metamorph_db("migrated"))
    viewer = as_role("viewer")
    job = Job.objects.create(kind="remap-undo", db_path=path, actor="ada", state="queued")
    html = viewer.get("/").content.decode()
    assert reverse("core:job_wait", args=[job.pk]) in html and 'id="active-job"' in html
    Job.objects.filter(pk=job.pk).update(state="succeeded")
    done = viewer.get(reverse("core:job_wait", args=[job.pk]), headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
    assert 'id="active-job"' not in viewer.get("/").content.decode()


@pytest.mark.parametrize("leftover", [None, "-wal"])
def test_every_page_explains_a_missing_database_even_beside_its_wal(
    as_role, settings, tmp_path, leftover
):
    # /remap/ answered 500 (FileNotFoundError) for both.
    path = use(settings, str(tmp_path / "gone.db"))
    if leftover:
        open(path + leftover, "wb").write(b"\x37\x7f\x06\x82" + bytes(28))
    client = as_role("admin")
    for url in ("/", "/remap/", "/vault/?id=default-vault", "/indexes/", "/health/", "/checks/"):
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert f"No Metamorph database at {path}" in html, url
        if leftover:
            assert "Do not delete the -wal" in html, url


def test_after_a_killed_remap_pages_without_javascript_show_it_interrupted(
    as_role, settings, metamorph_db
):
    # Pages loaded without JavaScript never poll: they said "running … 48 %" long after.
    path = use(settings, metamorph_db("migrated"))
    admin = as_role("admin")
    record, job = _move_plan_with_job(
        admin, path, state="running", phase="move", done=48, total=100, **killed_process()
    )
    for url in ("/", reverse("vaults:remap"), reverse("vaults:remap_plan", args=[record.plan_id])):
        html = admin.get(url).content.decode()
        assert 'id="active-job"' not in html and ">running<" not in html, url
    assert state_of(plan_page(admin, record.plan_id)) != "running"
    job.refresh_from_db()
    assert job.state == "interrupted"
    assert "Interrupted: the process running it" in job.error


def test_a_ten_thousand_character_vault_id_gets_a_short_link_and_a_long_one_a_clear_line(
    as_role, settings, metamorph_db
):
    # The matrix linked it as ?id=<10,000 characters>: gunicorn refuses such a line (414).
    import sqlite3

    path = use(settings, metamorph_db("migrated"))
    long_id = "v" * 10_000
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET vault_id = ? WHERE rowid IN (1, 2, 3)", (long_id,))
    conn.commit()
    conn.close()
    viewer = as_role("viewer")
    html = viewer.get("/").content.decode()
    links = re.findall(r'href="(/vault/\?[^"]*)"', html)
    assert links and max(len(link) for link in links) < 1000
    (link,) = [link for link in links if "key=" in link]
    page = viewer.get(link.replace("&amp;", "&")).content.decode()
    assert 'id="vault-total"' in page and ">3<" in page
    refused = viewer.get("/vault/", {"id": long_id})
    assert refused.status_code == 200
    assert "A vault id of 10,000 characters is longer than a link names ids by" in (
        refused.content.decode()
    )
