"""SIGKILL a real process mid-run: each migration is wholly before or wholly after, never half.

A killed run leaves the file passing integrity_check and in one of three states
(nothing applied, 001 applied, both applied) and a re-run finishes the job.
"""

import signal

import pytest

from metamorph.migrate import runner
from metamorph.migrate.verify import verify_migration

from .helpers import row_counts, run_driver, schema_snapshot, sql

BEFORE, AFTER_001, AFTER_BOTH = "before", "after 001", "after 001+002"


@pytest.fixture
def states(metamorph_db):
    """The three snapshots a killed run may leave, from copies of the same legacy file."""
    before = metamorph_db("legacy")
    after_001, after_both = metamorph_db("legacy"), metamorph_db("legacy")
    runner.run_migrations(after_001, "001")
    runner.run_migrations(after_both)
    return {
        BEFORE: schema_snapshot(before),
        AFTER_001: schema_snapshot(after_001),
        AFTER_BOTH: schema_snapshot(after_both),
    }, row_counts(before)


def _state_after_kill(path, states):
    snapshots, counts = states
    # A writable connection rolls back the hot journal a killed writer may leave.
    assert sql(path, "PRAGMA integrity_check") == [("ok",)]
    found = [name for name, snap in snapshots.items() if schema_snapshot(path) == snap]
    assert len(found) == 1, "the schema is neither before nor after each migration"
    assert {t: n for t, n in row_counts(path).items() if t in counts} == counts
    return found[0]


def _rerun_completes(path, states):
    before = states[1]
    result = runner.run_migrations(path)
    assert schema_snapshot(path) == states[0][AFTER_BOTH]
    assert verify_migration(path, before).ok
    return result


@pytest.mark.parametrize(
    "needle, expected",
    [
        ("001_add_vault_id|0|", BEFORE),  # first step, lock held
        ("001_add_vault_id|5|", BEFORE),  # among the ALTER TABLEs
        ("001_add_vault_id|30|", BEFORE),  # among the CREATE INDEXes
        ("001_add_vault_id|53|committing", BEFORE),  # everything done, not committed
        ("001_add_vault_id|53|001_add_vault_id applied", AFTER_001),  # committed
        ("002_add_vercel_sandbox_tables|4|", AFTER_001),  # 002 half-way
        ("002_add_vercel_sandbox_tables|15|committing", AFTER_001),
    ],
)
def test_kill_at_a_step_leaves_each_migration_wholly_before_or_after(
    metamorph_db, states, needle, expected
):
    path = metamorph_db("legacy")
    killed = run_driver("crash_driver.py", "progress", path, needle)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _state_after_kill(path, states) == expected
    _rerun_completes(path, states)


@pytest.fixture(scope="module")
def ticks_of_a_full_run(tmp_path_factory):
    from metamorph.demo import build_demo_database

    path = str(tmp_path_factory.mktemp("count") / "legacy.db")
    build_demo_database(path, sessions=60, vaults=6, state="legacy")
    done = run_driver("crash_driver.py", "count", path, 0)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("fraction", [0.05, 0.25, 0.5, 0.75, 0.95])
@pytest.mark.parametrize("cache_pages", ["", "4"])
def test_kill_inside_an_sql_statement_never_leaves_a_half_migration(
    metamorph_db, states, ticks_of_a_full_run, monkeypatch, fraction, cache_pages
):
    # A tiny cache makes SQLite write pages into the file before the commit, so a kill
    # leaves a hot journal to roll back: the hard case.
    monkeypatch.setenv("MM_CACHE_PAGES", cache_pages)
    path = metamorph_db("legacy")
    limit = max(1, int(ticks_of_a_full_run * fraction))
    killed = run_driver("crash_driver.py", "vm", path, limit)
    assert killed.returncode in (-signal.SIGKILL, 0), killed.stderr
    assert _state_after_kill(path, states) in (BEFORE, AFTER_001, AFTER_BOTH)
    _rerun_completes(path, states)


def test_a_rerun_after_a_kill_reports_what_it_finished(metamorph_db, states):
    path = metamorph_db("legacy")
    run_driver("crash_driver.py", "progress", path, "002_add_vercel_sandbox_tables|2|")
    result = _rerun_completes(path, states)
    assert [m.status for m in result.migrations] == ["already applied", "applied"]
