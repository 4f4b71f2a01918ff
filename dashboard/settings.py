"""RecDesk settings, read from the environment (django-environ).

Development defaults need no server: SQLite and a filesystem Celery broker under var/.
Production (RECDESK_MODE=production) refuses to start without its secrets.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

MODE = env.str("RECDESK_MODE", default="development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"RECDESK_MODE must be 'development' or 'production', not {MODE!r}.")
PRODUCTION = MODE == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)


def _dev_secret(name: str, make) -> str:
    """A per-checkout secret kept in var/, so development needs no setup and commits no key."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _required(name: str, dev_file: str, make) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(
            f"{name} is not set. RecDesk refuses to start in production without it; "
            f"see the environment table in README.md."
        )
    return _dev_secret(dev_file, make)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = _required("SECRET_KEY", "dev-secret-key", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys, newest first. Independent of SECRET_KEY so that either can rotate alone.
RECDESK_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required("RECDESK_ENCRYPTION_KEYS", "dev-encryption-key", _fernet_key).split(",")
    if k.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address vendors call back on; shown on each app's page and sent by "Register callback".
RECDESK_PUBLIC_URL = env.str("RECDESK_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "dashboard",
    "recordings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.UserTimezoneMiddleware",
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Development serves static files with runserver; production with WhiteNoise, right after security.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"

TEMPLATES = [
    {
        # Django's own engine, freeing each rendering's context at once (see dashboard/templating.py).
        "BACKEND": "dashboard.templating.DjangoTemplates",
        "NAME": "django",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.roles",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'recdesk.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Django turns psycopg's prepared statements off; statements run with server-side binding are
    # then prepared per connection after 5 runs. Django's own queries bind on the client and are
    # never prepared; the callback inbox's INSERT is (recordings/prepared_insert.py). Off for a
    # PgBouncer in transaction mode older than 1.21, which cannot keep them.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env.bool("DB_PREPARED_STATEMENTS", default=True) else None
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker, beat and web server share one SQLite file in development; wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-axes: lock a username+IP pair after repeated failures; a success resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
RECDESK_DEFAULT_USER_TIMEZONE = env.str("RECDESK_DEFAULT_USER_TIMEZONE", default="Asia/Shanghai")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Celery. The default broker is kombu's filesystem transport, so development needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue = VAR_DIR / "celery-broker"
    for sub in ("in", "processed"):
        (_queue / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "in"),
        "data_folder_out": str(_queue / "in"),
        "processed_folder": str(_queue / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after every task unless this is
# set, so each task paid a new PostgreSQL connection (a sixth of the worker's time in
# bench/callbacks.py). With it, the fixup closes them only every 2 × this many tasks, and
# dashboard/celery.py applies CONN_MAX_AGE around each task instead.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="recdesk")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How often beat sweeps the outbox and polls active recordings (seconds).
RECDESK_SWEEP_SECONDS = env.float("RECDESK_SWEEP_SECONDS", default=5.0)
RECDESK_RECONCILE_SECONDS = env.float("RECDESK_RECONCILE_SECONDS", default=15.0)
# A command whose message seems lost (not claimed by a worker this long after enqueueing) is enqueued again.
RECDESK_REDISPATCH_SECONDS = env.float("RECDESK_REDISPATCH_SECONDS", default=60.0)
# Timeouts of every vendor call (seconds): connecting, and waiting for the answer.
RECDESK_VENDOR_CONNECT_TIMEOUT = env.float("RECDESK_VENDOR_CONNECT_TIMEOUT", default=3.0)
RECDESK_VENDOR_READ_TIMEOUT = env.float("RECDESK_VENDOR_READ_TIMEOUT", default=10.0)
# How long a worker holds a vendor command it is running; longer than connect + read timeouts.
RECDESK_COMMAND_CLAIM_SECONDS = env.float("RECDESK_COMMAND_CLAIM_SECONDS", default=60.0)

# Where the sandbox vendors listen (recordings/sandbox); the demo apps point at it.
RECDESK_SANDBOX_HOST = env.str("RECDESK_SANDBOX_HOST", default="127.0.0.1")
RECDESK_SANDBOX_BASE_PORT = env.int("RECDESK_SANDBOX_BASE_PORT", default=18100)
RECDESK_ARCHIVE_ROOT = env.path("RECDESK_ARCHIVE_ROOT", default=VAR_DIR / "archive")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default-safe.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
