"""Settings, all from the environment (12-factor, django-environ). See README "Configuration" and .env.example."""

import logging.config
import os
import zoneinfo
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from metamorph.backup.repository import RepositoryError, check_settings
from metamorph_admin import process
from metamorph_admin.databases import parse_databases

PACKAGE_DIR = Path(__file__).resolve().parent
# Relative paths, .env and var/ are taken from the checkout (beside manage.py); an installed
# wheel (`metamorph-admin …` on a Metamorph host) uses METAMORPH_ADMIN_HOME, else the working
# directory.
_CHECKOUT = PACKAGE_DIR.parent
BASE_DIR = Path(
    os.environ.get("METAMORPH_ADMIN_HOME")
    or (_CHECKOUT if (_CHECKOUT / "manage.py").is_file() else Path.cwd())
).resolve()
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win


def _env(read, name, **kwargs):
    """Read one setting; a malformed value stops start-up with a message naming it."""
    try:
        return read(name, **kwargs)
    except (ValueError, TypeError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name} has a value that cannot be used ({exc}). "
            "See .env.example for its expected form."
        ) from None


DEBUG = _env(env.bool, "DEBUG", default=False)
SECRET_KEY = _env(env.str, "SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value (`make run` writes one to "
            ".env for you), or set DEBUG=true for local development."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = _env(env.list, "ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = _env(env.list, "CSRF_TRUSTED_ORIGINS", default=[])

METAMORPH_DATABASE_PATH = str(
    (BASE_DIR / _env(env.str, "METAMORPH_DATABASE_PATH", default="./data/metamorph.db")).resolve()
)
METAMORPH_BACKUP_DIR = str(
    (BASE_DIR / _env(env.str, "METAMORPH_BACKUP_DIR", default="./data/backups")).resolve()
)
# Several Metamorph databases by name ("staging=/srv/stage/metamorph.db,production=..."); empty:
# the one METAMORPH_DATABASE_PATH, called "default". Parsed by metamorph_admin.databases.
_databases_text = _env(env.str, "METAMORPH_DATABASES", default="")
try:
    METAMORPH_DATABASES = parse_databases(_databases_text, BASE_DIR)
except ValueError as exc:
    raise ImproperlyConfigured(
        f"Environment variable METAMORPH_DATABASES has a value that cannot be used ({exc}). "
        "Write it as name=path,name=path (e.g. staging=/srv/stage/metamorph.db)."
    ) from None
if METAMORPH_DATABASES:
    METAMORPH_DATABASE_PATH = METAMORPH_DATABASES[0][1]
# /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics is off (404).
METRICS_TOKEN = _env(env.str, "METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "METRICS_TOKEN is shorter than 16 characters: use a long random "
        "value (python -c 'import secrets; print(secrets.token_urlsafe(32))')."
    )
# Rollout reports are signed (HMAC) with this key; unset: SECRET_KEY with the reports' own salt.
# Rotating it makes --verify refuse every report signed before (see docs/security.md).
REPORT_SIGNING_KEY = _env(env.str, "REPORT_SIGNING_KEY", default="")
if REPORT_SIGNING_KEY and len(REPORT_SIGNING_KEY) < 32:
    raise ImproperlyConfigured(
        "REPORT_SIGNING_KEY is shorter than 32 characters: use a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or unset it."
    )
# The Vaults page warns when the newest verified backup of the file is older than this (0: never).
BACKUP_MAX_AGE_HOURS = _env(env.float, "BACKUP_MAX_AGE_HOURS", default=26.0)
if BACKUP_MAX_AGE_HOURS < 0:
    raise ImproperlyConfigured("BACKUP_MAX_AGE_HOURS must be 0 (no warning) or more.")
# The off-host, encrypted, deduplicated repository (borg) every verified backup is also stored
# in (docs/backups-offsite.md); empty: local backups only.
METAMORPH_BACKUP_REPOSITORY = _env(env.str, "METAMORPH_BACKUP_REPOSITORY", default="")
METAMORPH_BACKUP_PASSWORD_FILE = _env(env.str, "METAMORPH_BACKUP_PASSWORD_FILE", default="")
# The ssh command borg reaches an ssh:// repository with (BORG_RSH), e.g. "ssh -i KEY".
METAMORPH_BACKUP_RSH = _env(env.str, "METAMORPH_BACKUP_RSH", default="")
if METAMORPH_BACKUP_REPOSITORY:
    try:
        check_settings(METAMORPH_BACKUP_REPOSITORY, METAMORPH_BACKUP_PASSWORD_FILE)
    except RepositoryError as exc:
        raise ImproperlyConfigured(str(exc)) from None
# How long a rollout's live check waits for the Metamorph server's answer to one request.
# Metamorph's /api/sessions reads every session file: 5-42 s at ~14,000 sessions.
METAMORPH_LIVE_TIMEOUT_SECONDS = _env(env.float, "METAMORPH_LIVE_TIMEOUT_SECONDS", default=10.0)
if not 0 < METAMORPH_LIVE_TIMEOUT_SECONDS <= 600:
    raise ImproperlyConfigured(
        "METAMORPH_LIVE_TIMEOUT_SECONDS must be more than 0 and at most 600 (seconds)."
    )
# Longest a page may spend counting before it shows "more than N" and counts in the background.
METAMORPH_PAGE_QUERY_SECONDS = _env(env.float, "METAMORPH_PAGE_QUERY_SECONDS", default=1.0)

# Each app, and whether only the site and the queue use it: an operation command's process
# (vaultreport, backupdb, runmigration…: metamorph_admin/process.py) runs without those, ~30 ms
# sooner (django-tasks-db's import patches Django's generic classes, importing the admin with it).
_SITE_ONLY, _EVERY_PROCESS = True, False
_APPS = [
    # The admin's registrations (admin.py modules) load with the URLconf (urls.py), not in
    # every command's start-up: ~0.02 s of each, a tenth of vaultreport's on a 1 GB file.
    ("django.contrib.admin.apps.SimpleAdminConfig", _SITE_ONLY),
    ("django.contrib.auth", _EVERY_PROCESS),
    ("django.contrib.contenttypes", _EVERY_PROCESS),
    ("django.contrib.sessions", _SITE_ONLY),
    ("django.contrib.messages", _SITE_ONLY),
    ("whitenoise.runserver_nostatic", _SITE_ONLY),
    ("django.contrib.staticfiles", _SITE_ONLY),
    ("django_htmx", _SITE_ONLY),
    ("django_tasks_db", _SITE_ONLY),
    ("axes", _EVERY_PROCESS),  # its backend checks every login, a command's included
    ("metamorph_admin", _EVERY_PROCESS),
    ("vaults", _EVERY_PROCESS),
    ("migrations_ui", _EVERY_PROCESS),
    ("rollouts", _EVERY_PROCESS),
]
INSTALLED_APPS = [
    app for app, site_only in _APPS if not (site_only and process.is_operation_command())
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A write the dashboard's own database refuses (read-only volume): a 503 page saying so.
    "metamorph_admin.admin_db.ReadOnlyAdminDatabaseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Control, bidi and zero-width characters (odd vault ids) are escaped on every HTML page.
    "metamorph_admin.safe_pages.EscapeUnsafeCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "metamorph_admin.databases.CurrentDatabaseMiddleware",
    "metamorph_admin.interrupted.ReapInterruptedJobsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "metamorph_admin.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "site_templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "metamorph_admin.nav.metamorph",
                "vaults.context_processors.file_problem",
            ],
        },
    },
]
WSGI_APPLICATION = "metamorph_admin.wsgi.application"

DATABASES = {
    "default": _env(
        env.db, "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'admin.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Worker and web write job progress at once: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20})
else:
    # A PostgreSQL host that is gone (a partition, a powered-off VM) answers nothing, and libpq
    # waits for an answer for good: bound each connect, so that a command says so in one line
    # and an agent's reconnect loop tries again. `?connect_timeout=N` in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
# A web process keeps its connection to the dashboard's database (opening one per request
# was a visible share of a cached page's cost under load); a broken one is replaced.
DATABASES["default"].setdefault("CONN_MAX_AGE", 300)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# One queue per Metamorph database ("db-<name>"), taken only by that database's agent
# (`manage.py agent --database NAME`); QUEUES empty: any queue name is accepted.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
if process.is_operation_command():  # its work runs in its own process: it queues nothing
    TASKS = {"default": {"BACKEND": "metamorph_admin.task_backends.NoQueueInCommands"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes + metamorph_admin.login_throttle): failures count per username
# *and* client address. From LOGIN_DELAY_AFTER failures on, each next try of that pair waits
# LOGIN_DELAY_SECONDS, doubled after every further failure; at LOGIN_FAILURE_LIMIT the pair is
# locked until an admin unlocks it (Audit page, `manage.py axes_reset_ip_username ADDRESS NAME`),
# or for LOGIN_LOCKOUT_MINUTES when that is more than 0. Someone typing a known username from
# their address cannot lock its owner out of another address (docs/security.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = _env(env.int, "LOGIN_FAILURE_LIMIT", default=10)
LOGIN_DELAY_AFTER = _env(env.int, "LOGIN_DELAY_AFTER", default=3)
LOGIN_DELAY_SECONDS = _env(env.float, "LOGIN_DELAY_SECONDS", default=2.0)
LOGIN_LOCKOUT_MINUTES = _env(env.float, "LOGIN_LOCKOUT_MINUTES", default=0.0)
if (
    AXES_FAILURE_LIMIT < 1
    or LOGIN_LOCKOUT_MINUTES < 0
    or LOGIN_DELAY_AFTER < 1
    or LOGIN_DELAY_SECONDS < 0
):
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT and LOGIN_DELAY_AFTER must be 1 or more, LOGIN_DELAY_SECONDS and "
        "LOGIN_LOCKOUT_MINUTES 0 or more. See .env.example."
    )
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES) if LOGIN_LOCKOUT_MINUTES else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not extend it: the real operator knows when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # the audit trail records failures and lockouts (metamorph_admin.login_audit)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "vaults:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# The operator's time zone: pages show times in it, with UTC on hover.
TIME_ZONE = _env(env.str, "TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise ImproperlyConfigured(
        f"Environment variable TIME_ZONE has a value that cannot be used ({TIME_ZONE!r} is not "
        "an IANA time zone such as Europe/Berlin or UTC). See .env.example."
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production-safe defaults when DEBUG is off; HTTPS ones are the operator's to turn on.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = _env(env.bool, "SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = _env(env.bool, "SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = _env(env.int, "SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env(env.bool, "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = _env(env.bool, "SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy that always sets it: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
_proxy_header = _env(env.str, "SECURE_PROXY_SSL_HEADER", default="")
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")

# Django's default logging (django.utils.log.DEFAULT_LOGGING) and ours, configured here
# (LOGGING_CONFIG = None: Django's documented way to do it yourself) so that Django's
# mail_admins handler is not built: with no ADMINS it sends nothing, and building it imports
# Django's debug views and templates, ~8 ms of every command's start-up.
LOGGING_CONFIG = None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "one_line_refusals": {"()": "metamorph_admin.log_filters.OneLineRefusals"},
        "require_debug_true": {"()": "django.utils.log.RequireDebugTrue"},
    },
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["one_line_refusals"]},
        # Django's own: its INFO records on the console when DEBUG is on.
        "django.console": {
            "level": "INFO",
            "filters": ["require_debug_true"],
            "class": "logging.StreamHandler",
        },
        "django.server": {
            "level": "INFO",
            "class": "logging.StreamHandler",
            "formatter": "django.server",
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["django.console"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # Task state changes are in the Job rows; the worker need not print them too.
        "django.tasks": {"level": "WARNING"},
    },
}
logging.config.dictConfig(LOGGING)
