"""Settings for LMO Back Office, read from the environment (see README: Configuration)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Local secrets made by `make run`; LMO_ENV_FILE names another file (or /dev/null for none).
environ.Env.read_env(env.str("LMO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. "
            "Export SECRET_KEY, or DEBUG=1 for local work."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

# Production names every service it uses: no silent SQLite, file cache or on-disk broker.
REQUIRED_IN_PRODUCTION = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "LMO_WEBHOOK_SECRETS")
if not DEBUG:
    _missing = [name for name in REQUIRED_IN_PRODUCTION if not env.str(name, default="").strip()]
    if _missing:
        raise ImproperlyConfigured(
            f"With DEBUG off these settings must be set: {', '.join(_missing)}. "
            "Export them, or DEBUG=1 for local work (SQLite, a file cache, a broker on disk)."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "packages",
    "leads",
    "licenses",
    "features",
    "subscribers",
    "jobs",
    "staff",
    "clock",
    "dashboards",
    # Last: the project itself (the demo data command), on top of every app.
    "lmo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "clock.middleware.ClockMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out user or address is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "lmo.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "lmo.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes. IMMEDIATE takes the write lock
    # when a transaction begins, so the web, the worker and beat queue for it (up to the
    # timeout) instead of failing at once when a reading transaction tries to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # A server that vanishes without closing (failover, a dropped NAT entry) would leave a
    # worker or beat waiting on its socket for the kernel's two-hour keepalive default;
    # these close such a connection within about a minute so the task's retry reconnects.
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    for _name, _value in {
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 60_000,
    }.items():
        _pg_options.setdefault(_name, _value)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A cache shared by every process on the host: the web and the worker both invalidate it.
# Redis URLs use core.cache.RedisCache (it reuses its Redis clients); local work without
# CACHE_URL uses a file cache.
CACHE_BACKENDS = {"redis": "core.cache.RedisCache", "rediss": "core.cache.RedisCache"}
_cache_url = env.str("CACHE_URL", default=f"filecache://{BASE_DIR / 'var' / 'cache'}")
CACHES = {
    "default": env.cache_url_config(
        _cache_url, backend=CACHE_BACKENDS.get(_cache_url.partition("://")[0])
    ),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One way to write and read times everywhere: `2026-12-27 19:06 UTC` (lmo/dates.py).
FORMAT_MODULE_PATH = ["core.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# --- Transport security (`manage.py check --deploy` is clean with DEBUG off) -----------------
# TLS ends in front of the app (a load balancer or proxy) in production; these default to
# the safe values whenever DEBUG is off, and each can be turned off for a plain-HTTP setup.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and compose poll the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a proxy that sets this header itself (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Sign-in throttling (django-axes): per user name and per address, separately --------------
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "staff/locked_out.html"

# --- API tokens (django-rest-knox): stored as a SHA-512 hash, `Authorization: Token <key>` ----
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "core.api.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.HasRolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="6000/hour"),
        "bulk": env.str("API_THROTTLE_BULK", default="120/hour"),
        "writes": env.str("API_THROTTLE_WRITES", default="3000/hour"),
        "reads": env.str("API_THROTTLE_READS", default="3000/hour"),
        # Subscriber endpoints: webhooks per source address, license checks per API key.
        "subscriber_webhook": env.str("LMO_WEBHOOK_THROTTLE", default="100000/hour"),
        "subscriber_license_check": env.str("LMO_LICENSE_CHECK_THROTTLE", default="200000/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LMO Back Office API",
    "DESCRIPTION": (
        "Staff API for packages, licenses, leads and feature parameters, the signed subscriber "
        "webhook, and the license check that managed packages call."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LicenseStatusEnum": "licenses.choices.LicenseStatus",
        "LeadStatusEnum": "leads.choices.LeadStatus",
        "DefaultLicenseStatusEnum": "packages.choices.DefaultLicenseStatus",
        "LicenseActionEnum": "licenses.actions.ACTION_SLUGS",
    },
}

# --- Subscriber webhooks and the license check ----------------------------------------------
# One or more "whsec_..." secrets, space or comma separated, so a secret can be rotated.
LMO_WEBHOOK_SECRETS = env.list("LMO_WEBHOOK_SECRETS", default=[])
LMO_WEBHOOK_TOLERANCE_SECONDS = env.int("LMO_WEBHOOK_TOLERANCE_SECONDS", default=300)
LMO_WEBHOOK_MAX_BODY_BYTES = 64 * 1024
LMO_LICENSE_CHECK_CACHE_SECONDS = env.int("LMO_LICENSE_CHECK_CACHE_SECONDS", default=300)
# Bodies nested deeper than this are refused (400) before anything reads them.
LMO_WEBHOOK_MAX_DEPTH = 32
# Workers apply queued events in batches of this many (package, org) groups; a drain task
# hands over to the next one after LMO_SUBSCRIBER_DRAIN_MAX_SECONDS; beat drains every
# LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS in case a trigger was lost.
LMO_SUBSCRIBER_DRAIN_BATCH = env.int(
    "LMO_SUBSCRIBER_DRAIN_BATCH",
    default=50 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 200,
)
LMO_SUBSCRIBER_DRAIN_MAX_SECONDS = env.int("LMO_SUBSCRIBER_DRAIN_MAX_SECONDS", default=60)
LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS = env.int("LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS", default=10)
# On PostgreSQL a drain that finds a backlog (a full batch) asks a second worker process to
# drain beside it; give the ingest worker two processes (`--concurrency 2`) for it to run.
LMO_SUBSCRIBER_DRAIN_HELPER = env.bool("LMO_SUBSCRIBER_DRAIN_HELPER", default=True)
# A web process that found a drain pending (or asked for one) does not ask again for this
# many seconds: one cache round trip per process per interval instead of one per event. The
# drain looks at the queue for this long after clearing its key, so nothing waits for beat;
# an event accepted meanwhile waits at most this much longer to be applied.
LMO_SUBSCRIBER_DRAIN_ASK_SECONDS = env.float("LMO_SUBSCRIBER_DRAIN_ASK_SECONDS", default=0.25)

# Sections of GET /healthz besides the database, broker, last sweep and outbox: name ->
# a function returning the section (jobs reads them by name).
LMO_HEALTH_SECTIONS = {
    "subscriber_inbox": "subscribers.selectors.subscriber_inbox_backlog",
    "clock": "clock.selectors.clock_report",
}

# --- The clock ------------------------------------------------------------------------------
# Lets the back office move time (lmo.clock.now() = real time + a stored offset) to watch
# trials, grace periods and overrides end. Never on a production LMO by accident.
LMO_SIMULATED_CLOCK = env.bool("LMO_SIMULATED_CLOCK", default=False)
if (
    LMO_SIMULATED_CLOCK
    and not DEBUG
    and not env.bool("LMO_ALLOW_SIMULATED_CLOCK_IN_PRODUCTION", default=False)
):
    raise ImproperlyConfigured(
        "LMO_SIMULATED_CLOCK is on with DEBUG off: a moved clock would expire real customers' "
        "licenses. Turn it off, or set LMO_ALLOW_SIMULATED_CLOCK_IN_PRODUCTION=1 for a "
        "demonstration back office."
    )

# --- Celery -----------------------------------------------------------------------------------
# The on-disk broker's folders (default broker only).
BROKER_DIR = Path(env.str("LMO_BROKER_DIR", default=str(BASE_DIR / "var" / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Worker pings (celery inspect, celery_status) keep their tables here, not in the cwd.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The on-disk queue is polled; a short interval keeps local background work snappy.
        "polling_interval": 0.2,
    }
else:
    # Longer than the longest countdown or ETA we schedule, so Redis never redelivers early.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 2 * 60 * 60,
        # A request that relays to a broker which is down, or accepts connections and never
        # answers, gives up within these seconds (the outbox keeps the message pending).
        "socket_connect_timeout": env.float("LMO_BROKER_TIMEOUT_SECONDS", default=2.0),
        "socket_timeout": env.float("LMO_BROKER_TIMEOUT_SECONDS", default=2.0),
    }
    CELERY_BROKER_CONNECTION_TIMEOUT = env.float("LMO_BROKER_TIMEOUT_SECONDS", default=2.0)
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection before and after each task unless
# this is set: a new PostgreSQL session per task (one per email of a first install). With
# it, lmo.celery closes connections between tasks the way Django does between requests
# (CONN_MAX_AGE, CONN_HEALTH_CHECKS, a connection that failed).
CELERY_DB_REUSE_MAX = 1000
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The subscriber inbox's drain has a queue of its own, so an event is never applied behind a
# backlog of notification emails: the Procfile and docker-compose run a worker for it
# (`-Q ingest`) beside the one for everything else (`-Q celery`). A worker started without
# -Q consumes both, so a single worker still does all the work.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in ("celery", "ingest"))
CELERY_TASK_ROUTES = {"subscribers.drain_events": {"queue": "ingest"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The schedule lives here (beat copies it into django-celery-beat's tables at start; an
# interval changed in the admin lasts until beat restarts). Seconds, from the environment.
LMO_SWEEP_INTERVAL_SECONDS = env.int("LMO_SWEEP_INTERVAL_SECONDS", default=300)
LMO_EXPIRING_SOON_INTERVAL_SECONDS = env.int("LMO_EXPIRING_SOON_INTERVAL_SECONDS", default=3600)
# First installs' notifications wait for this job (see jobs.outbox), so it runs often.
LMO_OUTBOX_RELAY_INTERVAL_SECONDS = env.int("LMO_OUTBOX_RELAY_INTERVAL_SECONDS", default=5)
# A message handed over this long ago, not done and held by nobody, is relayed again (its
# consumer died); a consumer holds a message this long past its last recorded email.
LMO_OUTBOX_STUCK_AFTER_SECONDS = env.int("LMO_OUTBOX_STUCK_AFTER_SECONDS", default=300)
LMO_OUTBOX_LEASE_SECONDS = env.int("LMO_OUTBOX_LEASE_SECONDS", default=120)
CELERY_BEAT_SCHEDULE: dict = {
    # expire_seconds (django-celery-beat's name for "expires"): a run the worker could not
    # start before the next one is due is dropped.
    "expire-licenses": {
        "task": "licenses.expire_licenses",
        "schedule": float(LMO_SWEEP_INTERVAL_SECONDS),
        "options": {"expire_seconds": LMO_SWEEP_INTERVAL_SECONDS},
    },
    # Feature overrides lapse on the same beat as licenses.
    "end-feature-overrides": {
        "task": "features.end_overrides",
        "schedule": float(LMO_SWEEP_INTERVAL_SECONDS),
        "options": {"expire_seconds": LMO_SWEEP_INTERVAL_SECONDS},
    },
    "notify-expiring-soon": {
        "task": "licenses.notify_expiring_soon",
        "schedule": float(LMO_EXPIRING_SOON_INTERVAL_SECONDS),
        "options": {"expire_seconds": LMO_EXPIRING_SOON_INTERVAL_SECONDS},
    },
    "drain-subscriber-events": {
        "task": "subscribers.drain_events",
        "schedule": float(LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS),
        "options": {"expire_seconds": LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS},
    },
    "relay-pending-outbox": {
        "task": "jobs.relay_pending_outbox",
        "schedule": float(LMO_OUTBOX_RELAY_INTERVAL_SECONDS),
        "options": {"expire_seconds": LMO_OUTBOX_RELAY_INTERVAL_SECONDS},
    },
}

# --- Email (notifications sent by the outbox consumer) ------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="LMO Back Office <lmo@localhost>")
