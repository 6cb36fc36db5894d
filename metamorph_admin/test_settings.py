"""Settings for the test suite: the real settings, with tasks run in-process."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key")
os.environ.setdefault("DEBUG", "false")

from .settings import *  # noqa: E402,F401,F403
from .settings import STORAGES  # noqa: E402

TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Two suites on one PostgreSQL server at once (two checkouts, a developer and CI) must not
# share test databases: each run's workers get names of their own (pytest-django adds _gwN).
from .settings import DATABASES  # noqa: E402

_run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
if DATABASES["default"]["ENGINE"].endswith("postgresql") and _run:
    DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_metamorph_admin_{_run[:8]}"
