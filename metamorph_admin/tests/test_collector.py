"""The garbage collector is paused only while a command starts up (metamorph_admin.collector)."""

from metamorph_admin.tests.commands import manage


def test_a_command_runs_with_the_collector_on_and_start_up_frozen(tmp_path):
    """An agent or runserver runs for days: its garbage must be collected. What start-up
    made is frozen (kept out of every later collection) instead."""
    shown = manage(
        "shell",
        "-c",
        "import gc; print(gc.isenabled(), gc.get_freeze_count() > 0)",
        tmp_path=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[-2:] == ["True", "True"]


def test_a_bad_setting_still_gets_its_one_line_with_the_collector_paused(tmp_path):
    failed = manage("check", env={"SECRET_KEY": ""}, tmp_path=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.startswith("Configuration error: SECRET_KEY is not set.")
