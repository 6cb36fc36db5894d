"""/metrics against a known database: every number equals what the file (or the cache) says."""

import os
import re

import pytest
from django.urls import reverse

from conftest import sql
from metamorph_admin import liveness
from metamorph_admin.models import Job
from vaults.models import Snapshot
from vaults.services import snapshots

TOKEN = "a-metrics-token-long-enough"


@pytest.fixture
def scrape(client, db, settings):
    settings.METRICS_TOKEN = TOKEN

    def get():
        response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        return response.content.decode()

    return get


def samples(text, name):
    """{labels text: value} of one metric in the exposition, without the database label (every
    sample must carry the one configured database's name)."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            labels = match.group(1).split(",")
            assert 'database="default"' in labels, line
            rest = ",".join(label for label in labels if label != 'database="default"')
            found[f"{{{rest}}}" if rest else ""] = float(match.group(2))
    return found


def counted(path):
    Snapshot.objects.all().delete()
    return snapshots.take_snapshot(Snapshot.objects.create(db_path=path).id)


def test_rows_per_vault_and_table_equal_the_files_group_by(scrape, settings, metamorph_db):
    path = settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated", sessions=60, vaults=6)
    counted(path)
    text = scrape()
    cells = samples(text, "metamorph_vault_table_rows")
    for table in ("sessions", "messages", "semantic_memory", "emotional_arcs"):
        for vault, n in sql(path, f"SELECT vault_id, COUNT(*) FROM {table} GROUP BY 1"):
            assert cells[f'{{table="{table}",vault="{vault}"}}'] == n
    assert sum(cells.values()) == sum(samples(text, "metamorph_table_rows").values())
    assert (
        samples(text, "metamorph_table_rows")['{table="messages"}']
        == sql(path, "SELECT COUNT(*) FROM messages")[0][0]
    )
    vaults = {v for (v,) in sql(path, "SELECT DISTINCT vault_id FROM sessions")}
    assert samples(text, "metamorph_vaults")[""] >= len(vaults) == 6
    assert samples(text, "metamorph_migration_applied") == {
        '{migration="001_add_vault_id"}': 1.0,
        '{migration="002_add_vercel_sandbox_tables"}': 1.0,
    }
    assert '{status="missing"}' not in samples(text, "metamorph_expected_indexes")
    assert samples(text, "metamorph_expected_indexes")['{status="present"}'] > 20
    assert samples(text, "metamorph_vault_queries_full_scan") == {"": 0.0}
    assert samples(text, "metamorph_file_size_bytes") == {"": os.path.getsize(path)}
    assert samples(text, "metamorph_quick_check_ok") == {"": 1.0}
    assert 0 <= samples(text, "metamorph_counts_age_seconds")[""] < 60
    assert set(samples(text, "metamorph_admin_collector_up").values()) == {1.0}


def test_a_legacy_file_shows_no_migration_and_missing_vault_indexes(scrape, settings, metamorph_db):
    path = settings.METAMORPH_DATABASE_PATH = metamorph_db("legacy")
    counted(path)
    text = scrape()
    assert set(samples(text, "metamorph_migration_applied").values()) == {0.0}
    tables = samples(text, "metamorph_tables")
    assert tables['{state="migrated"}'] == 0
    assert tables['{state="not-migrated"}'] == len(
        [
            t
            for (t,) in sql(path, "SELECT name FROM sqlite_master WHERE type='table'")
            if t != "sqlite_sequence"
        ]
    )
    assert samples(text, "metamorph_expected_indexes")['{status="pending"}'] > 0
    assert samples(text, "metamorph_vault_table_rows") == {}
    assert (
        samples(text, "metamorph_table_rows")['{table="sessions"}']
        == sql(path, "SELECT COUNT(*) FROM sessions")[0][0]
    )


def test_dropping_a_vault_index_shows_as_a_missing_index_and_a_full_scan(
    scrape, settings, metamorph_db
):
    path = settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    sql(path, "DROP INDEX idx_conversations_vault_id")
    sql(path, "DROP INDEX idx_conversations_vault_updated")
    text = scrape()
    assert samples(text, "metamorph_expected_indexes")['{status="missing"}'] == 2
    assert samples(text, "metamorph_vault_queries_full_scan")[""] == 1


def test_a_scrape_never_counts_live_without_a_cached_read(scrape, settings, metamorph_db):
    settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    text = scrape()
    assert "metamorph_vault_table_rows{" not in text and "metamorph_table_rows{" not in text
    assert samples(text, "metamorph_file_readable") == {'{problem=""}': 1.0}
    assert not Snapshot.objects.exists()


def test_job_failures_and_a_running_remaps_progress(scrape, settings, metamorph_db):
    path = settings.METAMORPH_DATABASE_PATH = metamorph_db("migrated")
    for state in ("failed", "failed", "succeeded"):
        Job.objects.create(kind="backup", db_path=path, actor="t", state=state)
    Job.objects.create(
        kind="remap",
        db_path=path,
        actor="t",
        state="running",
        done=250,
        total=1000,
        parameters={"plan_id": "p-1"},
        **liveness.this_process(),  # alive: every request marks a dead process's job interrupted
    )
    text = scrape()
    jobs = samples(text, "metamorph_admin_jobs")
    assert jobs['{kind="backup",state="failed"}'] == 2
    assert jobs['{kind="backup",state="succeeded"}'] == 1
    assert samples(text, "metamorph_remap_rows_done") == {'{kind="remap",plan_id="p-1"}': 250}
    assert samples(text, "metamorph_remap_rows_total") == {'{kind="remap",plan_id="p-1"}': 1000}


def test_a_missing_file_is_a_metric_not_an_error(scrape, settings, tmp_path):
    settings.METAMORPH_DATABASE_PATH = str(tmp_path / "gone.db")
    text = scrape()
    assert samples(text, "metamorph_file_readable") == {'{problem="DatabaseMissing"}': 0.0}
    assert str(tmp_path) not in text


def test_several_databases_each_get_their_own_samples_by_name(
    client, db, settings, metamorph_db, tmp_path
):
    staging, production = metamorph_db("migrated"), metamorph_db("legacy")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", production)]
    settings.METAMORPH_BACKUP_DIR = str(tmp_path / "backups")
    settings.METRICS_TOKEN = TOKEN
    text = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert (
        'metamorph_migration_applied{database="staging",migration="001_add_vault_id"} 1.0' in text
    )
    assert (
        'metamorph_migration_applied{database="production",migration="001_add_vault_id"} '
        "0.0" in text
    )
    assert 'metamorph_backup_verified_present{database="production"} 0.0' in text
    assert staging not in text and production not in text
    health = client.get(reverse("healthz")).json()
    assert health["checks"]["metamorph_file"] == "ok"
