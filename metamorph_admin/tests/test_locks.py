"""One mutating job at a time per database, across processes; a dead holder frees its lock."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from metamorph_admin import jobs, liveness, locks
from metamorph_admin.models import AuditRecord, Job, MutationLock
from metamorph_admin.tests.job_helpers import (  # noqa: F401
    migrated_admin_db,
    start_job_process,
    test_kinds,
    user_with_role,
)

pytestmark = pytest.mark.django_db


def _hold(db_path, actor="alice", pid=None, user=None):
    """A running job of this (alive) process holding the lock on db_path."""
    me = liveness.this_process()
    job = Job.objects.create(
        kind="test-mutation",
        db_path=db_path,
        actor=actor,
        state="running",
        started_by=user,
        **{**me, "pid": pid or me["pid"]},
    )
    job.started_at = job.created_at
    job.save()
    lock = MutationLock.objects.create(
        db_path=locks.lock_key(db_path),
        job=job,
        heartbeat_at=job.created_at,
        **{**me, "pid": pid or me["pid"]},
    )
    return job, lock


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_mutating_job_is_refused_naming_the_running_job_its_user_and_start(
    test_kinds, tmp_path
):
    db_path = str(tmp_path / "metamorph.db")
    holder, _ = _hold(db_path, actor="alice")
    job = jobs.run_job("test-mutation", {"db_path": db_path}, actor="bob", origin="cli")
    assert job.state == "failed"
    since = f"{holder.started_at:%Y-%m-%d %H:%M:%S} UTC"
    assert job.error == (
        f"Refused: test-mutation job #{holder.pk}, started by alice from the web since {since}, "
        f"is already changing {db_path}. Only one job may change a database at a time: wait "
        f"for job #{holder.pk} to finish (Jobs page), then try again."
    )
    assert AuditRecord.objects.get(job=job).outcome == "refused"
    assert MutationLock.objects.get().job == holder  # the holder keeps its lock


def test_the_same_file_spelled_through_a_symlink_is_the_same_lock(test_kinds, tmp_path):
    real = tmp_path / "metamorph.db"
    real.touch()
    (tmp_path / "link.db").symlink_to(real)
    _hold(str(real))
    job = jobs.run_job(
        "test-mutation", {"db_path": str(tmp_path / "link.db")}, actor="bob", origin="cli"
    )
    assert job.state == "failed" and job.error.startswith("Refused:")


def test_read_only_jobs_run_beside_a_mutating_one(test_kinds, tmp_path):
    db_path = str(tmp_path / "metamorph.db")
    _hold(db_path)
    assert (
        jobs.run_job("test-read", {"db_path": db_path}, actor="bob", origin="cli").state
        == "succeeded"
    )


def test_another_database_is_not_blocked(test_kinds, tmp_path):
    _hold(str(tmp_path / "one.db"))
    assert (
        jobs.run_job(
            "test-mutation", {"db_path": str(tmp_path / "two.db")}, actor="bob", origin="cli"
        ).state
        == "succeeded"
    )


def test_the_web_refuses_at_once_and_says_who_holds_the_database(
    client, test_kinds, settings, tmp_path
):
    settings.METAMORPH_DATABASE_PATH = str(tmp_path / "metamorph.db")
    holder, _ = _hold(settings.METAMORPH_DATABASE_PATH, actor="alice")
    client.force_login(user_with_role("operator", "olga"))
    response = client.post(
        reverse("core:start_job", args=["test-mutation"]), {"next": "/jobs/"}, follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/jobs/"
    assert f"Refused: test-mutation job #{holder.pk}, started by alice" in html
    refused = AuditRecord.objects.get(outcome="refused")
    assert refused.actor == "olga" and refused.job.state == "failed"


def test_a_lock_whose_process_died_is_released_and_its_job_marked_interrupted(test_kinds, tmp_path):
    db_path = str(tmp_path / "metamorph.db")
    dead, _ = _hold(db_path, pid=_dead_pid())
    job = jobs.run_job("test-mutation", {"db_path": db_path}, actor="bob", origin="cli")
    assert job.state == "succeeded"
    assert job.log_lines.filter(
        level="warning",
        text__startswith=(
            f"Released a stale lock on {locks.lock_key(db_path)} left by test-mutation job "
            f"#{dead.pk}"
        ),
    ).exists()
    dead.refresh_from_db()
    assert dead.state == "interrupted" and "may be part-way through this change" in dead.error
    assert AuditRecord.objects.get(job=dead).outcome == "failure"


def test_a_holder_on_another_host_counts_as_gone_only_after_its_heartbeat_stops(
    test_kinds, tmp_path
):
    from datetime import timedelta

    db_path = str(tmp_path / "metamorph.db")
    holder, lock = _hold(db_path)
    MutationLock.objects.filter(pk=lock.pk).update(hostname="elsewhere")
    assert (
        jobs.run_job("test-mutation", {"db_path": db_path}, actor="b", origin="cli").state
        == "failed"
    )
    MutationLock.objects.filter(pk=lock.pk).update(
        heartbeat_at=lock.heartbeat_at - liveness.STALE_AFTER - timedelta(seconds=1)
    )
    assert (
        jobs.run_job("test-mutation", {"db_path": db_path}, actor="b", origin="cli").state
        == "succeeded"
    )


def test_a_job_left_running_by_a_dead_process_shows_as_interrupted(client, test_kinds):
    client.force_login(User.objects.create_user("v", password="pw"))
    job = Job.objects.create(
        kind="test-mutation",
        db_path="/tmp/x.db",
        actor="alice",
        state="running",
        pid=_dead_pid(),
        hostname=liveness.hostname(),
    )
    html = client.get(reverse("core:job", args=[job.pk])).content.decode()
    assert "Interrupted: the process running it (pid" in html and "hx-trigger" not in html
    job.refresh_from_db()
    assert job.state == "interrupted"


def _lock_heartbeat(admin_db):
    conn = sqlite3.connect(admin_db)
    try:
        return conn.execute("SELECT heartbeat_at FROM migrations_ui_mutationlock").fetchone()[0]
    finally:
        conn.close()


def test_a_lock_held_by_a_sigkilled_process_is_refused_while_alive_then_released(tmp_path):
    admin_db = migrated_admin_db(tmp_path)
    db_path = tmp_path / "metamorph.db"
    holder = start_job_process(admin_db, "hold", db_path, "alice")
    try:
        assert holder.stdout.readline().strip() == "HOLDING", holder.stderr.read()
        first_beat = _lock_heartbeat(admin_db)
        time.sleep(0.5)
        assert _lock_heartbeat(admin_db) > first_beat  # the holder's heartbeat thread runs
        second = start_job_process(admin_db, "quick", db_path, "bob")
        refused = json.loads(second.communicate(timeout=60)[0])
        assert refused["state"] == "failed"
        assert refused["error"].startswith(
            "Refused: test-mutation job #1, started by alice from the command line since "
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    third = start_job_process(admin_db, "quick", db_path, "bob")
    out, err = third.communicate(timeout=60)
    after = json.loads(out)
    assert after["state"] == "succeeded", err
    assert any(
        line.startswith(
            f"Released a stale lock on {db_path} left by test-mutation job #1 (pid {holder.pid} on "
        )
        for line in after["log"]
    )
