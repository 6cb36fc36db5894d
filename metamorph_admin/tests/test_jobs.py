"""Jobs: one run_job path for commands, tasks and views; progress, log, result, audit."""

import getpass
import io
import json

import pytest
from django import forms
from django.core.management.base import CommandError
from django.urls import reverse

from metamorph_admin import job_progress, jobs, kinds
from metamorph_admin.command_jobs import run_from_command
from metamorph_admin.job_progress import JobProgress
from metamorph_admin.kinds import JobKind
from metamorph_admin.models import AuditRecord, Job, JobLog
from metamorph_admin.tests.job_helpers import counting_engine, test_kinds, user_with_role  # noqa: F401

pytestmark = pytest.mark.django_db


def run(kind="test-mutation", db_path="/tmp/metamorph-test.db", **params):
    return jobs.run_job(kind, {"db_path": db_path, **params}, actor="carol", origin="cli")


def test_a_job_run_through_run_job_records_progress_log_result_and_audit(test_kinds):
    job = run(steps=4)
    assert job.state == "succeeded" and job.origin == "cli" and job.actor == "carol"
    assert (job.phase, job.done, job.total, job.message) == ("copy", 4, 4, "step 4 of 4")
    assert job.result == {
        "db_path": "/tmp/metamorph-test.db",
        "steps": 4,
        "tables": {"messages": 3},
    }
    assert job.started_at <= job.finished_at and job.pid and job.hostname
    log = [line.text for line in job.log_lines.all()]
    assert log[0].startswith("Started by carol (command line)")
    assert "copy: step 1 of 4" in log and "copy: step 4 of 4" in log
    assert log[-1].startswith("Finished: succeeded")
    record = AuditRecord.objects.get(job=job)
    assert (record.action, record.outcome, record.actor, record.origin) == (
        "test-mutation",
        "success",
        "carol",
        "cli",
    )
    assert record.parameters == {"db_path": "/tmp/metamorph-test.db", "steps": 4}
    assert record.duration is not None and record.target == "/tmp/metamorph-test.db"


def test_an_engine_error_becomes_the_jobs_operator_message(test_kinds):
    job = run(fail=True)
    assert job.state == "failed"
    assert job.error == "/tmp/metamorph-test.db is not what this job expected: pick another file."
    assert AuditRecord.objects.get(job=job).outcome == "failure"
    assert job.log_lines.filter(level="error", text=job.error).exists()


def test_an_unexpected_exception_shows_a_generic_message_and_no_traceback(test_kinds, caplog):
    job = run(crash=True)
    assert job.state == "failed"
    assert job.error.startswith("Unexpected error: the details are in the server log under job")
    everything = job.error + "".join(job.log_lines.values_list("text", flat=True))
    assert "ZeroDivisionError" not in everything and "/secret/path" not in everything
    assert "ZeroDivisionError" in caplog.text  # the server log keeps the traceback


def test_ctrl_c_marks_the_job_interrupted_and_frees_the_database(test_kinds):
    with pytest.raises(KeyboardInterrupt):
        run(interrupt=True)
    job = Job.objects.get()
    assert job.state == "interrupted" and "Ctrl-C" in job.error
    assert run().state == "succeeded"  # the lock was released


def test_progress_writes_the_row_at_most_every_quarter_second_and_always_the_last(test_kinds):
    job = Job.objects.create(kind="test-mutation", db_path="x", actor="t")
    clock = iter([0.0, 0.1, 0.2, 0.3, 0.31, 0.32, 0.4, 0.41]).__next__
    report = JobProgress(job.pk, clock=clock)
    writes = []
    report._write = lambda now, real=report._write: (writes.append(report._last), real(now))
    for done in range(1, 6):
        report("copy", done, 100, "")
    assert [w[1] for w in writes] == [1, 4]  # new phase at once, then after 0.25 s
    report.flush()
    job.refresh_from_db()
    assert (job.done, job.total) == (5, 100)


def test_the_log_keeps_only_the_newest_lines(test_kinds, monkeypatch):
    monkeypatch.setattr(job_progress, "LOG_LINES_KEPT", 50)
    monkeypatch.setattr(job_progress, "TRIM_EVERY", 10)
    job = Job.objects.create(kind="test-mutation", db_path="x", actor="t")
    report = JobProgress(job.pk)
    for i in range(205):
        report.log(f"line {i}")
    job_progress.trim_log(job.pk, keep=50)
    texts = list(JobLog.objects.filter(job=job).values_list("text", flat=True))
    assert len(texts) == 50 and texts[0] == "line 155" and texts[-1] == "line 204"


def test_a_command_runs_the_same_job_with_origin_cli_as_the_named_dashboard_user(test_kinds):
    olga = user_with_role("operator", "olga")
    out, err = io.StringIO(), io.StringIO()
    job = run_from_command(
        "test-mutation",
        {"db_path": "/tmp/m.db", "steps": 3},
        operator="olga",
        stdout=out,
        stderr=err,
        json_output=True,
    )
    assert job.origin == "cli" and job.actor == "olga" and job.started_by == olga
    assert job.actor != getpass.getuser() or getpass.getuser() == "olga"
    assert json.loads(out.getvalue())["steps"] == 3
    assert "copy: 3/3 step 3 of 3" in err.getvalue()  # plain lines when not a terminal
    assert f"test-mutation job #{job.pk} succeeded" in err.getvalue()


def test_a_command_takes_its_operator_from_metamorph_operator(test_kinds, monkeypatch):
    user_with_role("operator", "olga")
    monkeypatch.setenv("METAMORPH_OPERATOR", "olga")
    job = run_from_command(
        "test-mutation", {"db_path": "/tmp/m.db"}, operator=None, stdout=io.StringIO()
    )
    assert job.actor == "olga" and job.started_by.username == "olga"


@pytest.mark.parametrize(
    "operator, message",
    [
        (
            None,
            "A Test mutation job must be tied to a person: name yourself with --operator NAME "
            "(or METAMORPH_OPERATOR=NAME), a dashboard user with the role it needs",
        ),
        ("root", "There is no active dashboard user called 'root'"),
        (
            "vic",
            "You need the operator role (or higher) to run backups. Your account has the "
            "viewer role.",
        ),
    ],
)
def test_a_command_without_a_dashboard_user_allowed_to_run_it_refuses_and_runs_nothing(
    test_kinds, monkeypatch, operator, message
):
    monkeypatch.delenv("METAMORPH_OPERATOR", raising=False)
    user_with_role("viewer", "vic")
    with pytest.raises(CommandError) as raised:
        run_from_command(
            "test-mutation", {"db_path": "/tmp/m.db"}, operator=operator, stdout=io.StringIO()
        )
    assert message in str(raised.value)
    assert not Job.objects.exists()


def test_a_command_whose_job_fails_raises_command_error_with_the_message(test_kinds):
    user_with_role("operator", "olga")
    with pytest.raises(CommandError) as raised:
        run_from_command(
            "test-mutation",
            {"db_path": "/tmp/m.db", "fail": True},
            operator="olga",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert "is not what this job expected: pick another file." in str(raised.value)
    assert raised.value.returncode == 1


def test_a_command_naming_an_unknown_kind_is_told_the_known_ones(test_kinds):
    with pytest.raises(
        CommandError, match="There is no job kind 'nope' \\(known kinds: .*test-mutation"
    ):
        run_from_command("nope", {}, operator="x", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_web_job_is_queued_then_run_by_the_task_and_shown_on_its_page(
    client, test_kinds, settings
):
    settings.METAMORPH_DATABASE_PATH = "/tmp/web-metamorph.db"
    client.force_login(user_with_role("operator", "olga"))
    response = client.post(
        reverse("core:start_job", args=["test-mutation"]), {"db_path": "/etc/passwd"}
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("core:job", args=[job.pk])
    assert job.state == "succeeded" and job.origin == "web" and job.started_by.username == "olga"
    assert job.db_path == "/tmp/web-metamorph.db"  # never a path from the form
    assert list(
        AuditRecord.objects.filter(job=job).order_by("id").values_list("outcome", flat=True)
    ) == ["requested", "success"]
    html = client.get(response.url).content.decode()
    assert "Test mutation job #" in html and "step 5 of 5" in html and 'id="job-summary"' in html
    # the generic summary lists the result's plain values in words; nested ones stay raw
    assert "<dt>steps</dt><dd>5</dd>" in html and 'id="raw-result"' in html


def _running_job():
    return Job.objects.create(
        kind="test-mutation",
        db_path="/tmp/x.db",
        actor="olga",
        state="running",
        phase="copy",
        done=30,
        total=120,
        message="copying pages",
        pid=__import__("os").getpid(),
        hostname=__import__("socket").gethostname(),
    )


def test_the_progress_partial_keeps_polling_while_the_job_runs(client, test_kinds):
    client.force_login(user_with_role("viewer"))
    job = _running_job()
    html = client.get(
        reverse("core:job_progress", args=[job.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert html.lstrip().startswith('<div id="job-progress"') and "<html" not in html
    assert 'hx-trigger="every 1s"' in html and "30 / 120 (25 %)" in html
    assert 'style="width: 25%"' in html and "copying pages" in html


def test_the_progress_partial_stops_polling_once_the_job_finished(client, test_kinds):
    client.force_login(user_with_role("viewer"))
    job = run()
    html = client.get(reverse("core:job_progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in html and "Succeeded" in html


def test_the_job_page_includes_the_same_partial_the_poll_returns(client, test_kinds):
    client.force_login(user_with_role("viewer"))
    job = _running_job()
    page = client.get(reverse("core:job", args=[job.pk])).content.decode()
    partial = client.get(reverse("core:job_progress", args=[job.pk])).content.decode()
    assert page.count('id="job-progress"') == 1 and partial.strip() in page


def test_the_jobs_page_lists_web_and_command_jobs_and_filters_them(client, test_kinds):
    client.force_login(user_with_role("viewer"))
    run()
    run(fail=True)
    html = client.get(reverse("core:jobs")).content.decode()
    assert html.count('class="badge ok"') == 1 and html.count('class="badge failed"') == 1
    html = client.get(reverse("core:jobs"), {"state": "failed"}).content.decode()
    assert html.count('class="badge ok"') == 0 and "pick another file" in html


def test_the_integrity_check_kind_reads_a_real_metamorph_file(metamorph_db):
    job = jobs.run_job(
        "integrity-check", {"db_path": metamorph_db("migrated")}, actor="t", origin="cli"
    )
    assert job.state == "succeeded" and job.result["ok"] is True
    assert job.result["check"] == "integrity_check"


class StepsForm(forms.Form):
    steps = forms.IntegerField(min_value=1, max_value=10)
    db_path = forms.CharField(required=False)


@pytest.fixture
def kind_with_form(test_kinds):
    kinds.register(
        JobKind(
            "test-form", "Test form", counting_engine, "metamorph_admin.run_backup", form=StepsForm
        )
    )
    yield
    kinds.unregister("test-form")


def test_a_web_job_takes_its_parameters_from_the_kinds_form_but_never_the_database(
    client, kind_with_form, settings
):
    settings.METAMORPH_DATABASE_PATH = "/tmp/web-metamorph.db"
    client.force_login(user_with_role("operator"))
    url = reverse("core:start_job", args=["test-form"])
    client.post(url, {"steps": "2", "db_path": "/etc/passwd"})
    job = Job.objects.get()
    assert job.db_path == "/tmp/web-metamorph.db" and job.result["steps"] == 2
    assert job.parameters == {"steps": 2, "db_path": "/tmp/web-metamorph.db"}


def test_a_web_job_with_invalid_form_input_is_not_started_and_says_why(client, kind_with_form):
    client.force_login(user_with_role("operator"))
    response = client.post(
        reverse("core:start_job", args=["test-form"]),
        {"steps": "99", "next": "/jobs/"},
        follow=True,
    )
    assert "Ensure this value is less than or equal to 10." in response.content.decode()
    assert not Job.objects.exists()
