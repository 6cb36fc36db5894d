"""Operations run beside a real Metamorph-like writer process (metamorph.testing.writer)."""

import sqlite3
import time

import pytest

from metamorph.testing.writer import QUIET_MAX_WAIT_SECONDS, set_journal_mode, wait_bound

# A writer transaction may wait for an operation's lock, never longer than this.
MAX_WRITER_WAIT = QUIET_MAX_WAIT_SECONDS
# A forced restore is downtime the operator chose: the server's writes wait for the safety
# backup (copy, sha256, quick_check, counts) and the restore, all under one lock. On these
# small files that is ~0.3 s, over 1 s when the shared machine is loaded.
FORCED_RESTORE_MAX_WAIT = 2.0


@pytest.fixture
def live_db(metamorph_db):
    """live_db(state="legacy", shape="linked", mode="delete", sessions=150) -> path.

    shape: "linked" (the tidy shape: every table filled, links through rows) or "observed" (a
    real deployment's: conversations and messages empty, sessions.id = conversation id)."""

    def make(state="legacy", shape="linked", mode="delete", sessions=150, vaults=4):
        path = metamorph_db(state=state, sessions=sessions, vaults=vaults, shape=shape)
        set_journal_mode(path, mode)
        return path

    return make


@pytest.fixture
def backup_dir(tmp_path):
    return str(tmp_path / "backups")


class Window:
    """When an operation ran (time.time()), to pick the writer's commits during it."""

    def __enter__(self):
        self.start = time.time()
        return self

    def __exit__(self, *exc):
        self.end = time.time()
        return False


def assert_writer_unharmed(report, *files, max_wait=MAX_WRITER_WAIT, held=0.0):
    """No writer error, no wait over `max_wait`, every committed id in one of `files`.

    `held`: the operation's longest hold of the file's lock, as it measured it itself
    (metamorph.testing.writer.wait_bound)."""
    assert report.errors == [], report.errors[:3]
    bound = wait_bound(held, max_wait)
    assert report.max_wait < bound, (report.describe(), f"longest hold {held:.3f} s")
    missing = set(report.missing_from(files[0]))
    for other in files[1:]:
        missing &= set(report.missing_from(other))
    assert not missing, f"{len(missing)} committed rows lost, e.g. {sorted(missing)[:3]}"


def longest_hold(*outcomes):
    """The longest lock any of these migrate/rollback outcomes held: each migration's own
    transaction (its seconds, from BEGIN IMMEDIATE to COMMIT) and its backup's read lock."""
    held = [0.0]
    for outcome in outcomes:
        held += [m["seconds"] for m in outcome["run"]["migrations"]]
        held.append((outcome.get("backup") or {}).get("longest_read_lock_seconds") or 0.0)
    return max(held)


def wrote_during(report, window):
    """Commits the writer made while the operation ran (it was really running beside it)."""
    return report.between(window.start, window.end).commits


def integrity(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def slow_steps(seconds):
    """A progress callable that pauses a little at each step, so the writer meets the step."""

    def report(phase, done, total, message=""):
        time.sleep(seconds)

    return report
