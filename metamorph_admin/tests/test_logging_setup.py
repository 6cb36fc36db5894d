"""Logging is configured by the settings themselves (LOGGING_CONFIG = None): Django's defaults
but for the mail_admins handler, whose construction imports Django's debug views and templates
in every command's start-up."""

from metamorph_admin.tests.commands import manage

PROBE = (
    "import logging, sys; "
    "print('debug views imported:', 'django.views.debug' in sys.modules); "
    "logging.getLogger('django.probe').info('an info record of Django'); "
    "logging.getLogger('django.probe').warning('a warning of Django'); "
    "logging.getLogger('django.server').info('a request line')"
)


def test_a_command_starts_without_building_a_mail_handler(tmp_path):
    done = manage("shell", "-c", PROBE, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "debug views imported: False" in done.stdout


def test_djangos_records_reach_the_console_as_before(tmp_path):
    done = manage("shell", "-c", PROBE, tmp_path=tmp_path)
    assert "a warning of Django" in done.stderr
    assert "a request line" in done.stderr  # runserver's request log, as Django prints it
    debug = manage("shell", "-c", PROBE, tmp_path=tmp_path, env={"DEBUG": "true"})
    # DEBUG on: Django's console handler prints its INFO records as well as ours (root's).
    assert debug.stderr.count("an info record of Django") == 2
