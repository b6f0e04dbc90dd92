"""Django core: apps, database, auth, static files, logging."""

import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .env import BASE_DIR, DATA_DIR, env, env_or

TESTING = env.bool("ANKER_TESTING", default=False)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else the key `make run` generated into .data/ on first start."""
    key = env.str("DJANGO_SECRET_KEY", default="")
    if key:
        return key
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it in the environment or .env "
        "(`make run` creates one in .data/secret_key on first start)."
    )


SECRET_KEY = _secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "rest_framework_api_key",  # AbstractAPIKey of jobs (its own APIKey model is unused)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "anker_project.apps.AnkerProjectConfig",  # revokes JWTs on deactivation / password change
    "sessions.apps.ChatSessionsConfig",
    "sandboxes.apps.SandboxesConfig",
    "agents.apps.AgentsConfig",
    "jobs.apps.JobsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "anker_project.csp.ContentSecurityPolicyMiddleware",  # the web app's pages: no remote images or scripts
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "anker_project.urls"
ASGI_APPLICATION = "anker_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url_config(env_or("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Daphne, the worker's threads and beat write concurrently: WAL plus an immediate
    # write lock and a generous busy timeout keep SQLite from raising "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so worker and server subprocesses started by tests share it.
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_SQLITE_PATH", default=str(DATA_DIR / "test-db.sqlite3"))}


def _celery_worker(argv: list[str]) -> bool:
    """Whether this process is `celery ... worker` (the console script or `python -m celery`)."""
    program = Path(argv[0]) if argv else Path()
    return (program.name == "celery" or program.parent.name == "celery") and "worker" in argv[1:]


# 0: a connection per request or task, closed at its end (beat, manage.py, and workers on SQLite).
# The web process (anker_project/asgi.py) defaults to 60 s: its request threads are pooled
# (anker_project/asgi_handler.py, at most WEB_REQUEST_THREADS), so connections persist without
# piling up — a 1,000-job burst once hit PostgreSQL's "too many clients" when every request had a
# thread, and a connection, of its own.
WEB_PROCESS = env.str("ANKER_PROCESS", default="") == "web"  # set by anker_project/asgi.py
WORKER_PROCESS = env.str("ANKER_PROCESS", default="") == "worker" or _celery_worker(sys.argv)
DATABASES["default"]["CONN_MAX_AGE"] = int(
    env_or("DATABASE_CONN_MAX_AGE", "60" if WEB_PROCESS and not TESTING else "0")
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
WEB_REQUEST_THREADS = env.int("WEB_REQUEST_THREADS", default=16)
# A worker on PostgreSQL checks its connections out of a pool (Django's, psycopg-pool) of at most
# DATABASE_POOL_MAX. A turn gives its connection back before every model and tool call
# (agents/runtime.py, `db_release`), so a worker whose 100 threads wait on their models holds a
# few connections, not 100 (with -c 100 and PostgreSQL's default max_connections of 100 it used
# to run out: "too many clients"); a checkout from the pool costs ~0.1 ms against ~8 ms for a new
# connection. A thread that finds all of them checked out waits up to DATABASE_POOL_TIMEOUT
# seconds for one (then OperationalError): a short queue, not an error per thread.
# DATABASE_POOL_MAX=0 turns the pool off (e.g. behind PgBouncer: a connection per busy thread,
# closed before each model call all the same). Django's pool requires CONN_MAX_AGE=0.
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=20)
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=30.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Who holds which connection, in pg_stat_activity.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "application_name", "anker-web" if WEB_PROCESS else "anker-worker" if WORKER_PROCESS else "anker"
    )
    if WORKER_PROCESS and DATABASE_POOL_MAX > 0:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(2, DATABASE_POOL_MAX),
            "max_size": DATABASE_POOL_MAX,
            "timeout": DATABASE_POOL_TIMEOUT,
            "name": "anker-worker",
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static"
# The built web app (frontend/dist) is served at / by WhiteNoise.
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.exists() else None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "pymongo": {"level": "WARNING"},
    },
}
