"""One settings module, read from the environment (see README "Configuration")."""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OMS_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
# The test run needs no SECRET_KEY and no broker; nothing else changes under test.
TESTING = "pytest" in sys.modules or env_bool("OMS_TESTING")

# Commands that only read code and the schema sign nothing: a checkout can check its
# migrations (`manage.py makemigrations --check`) without a secret or DEBUG.
KEYLESS_COMMANDS = {"makemigrations", "check", "showmigrations", "sqlmigrate"}
RUNNING_KEYLESS_COMMAND = (
    len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" and sys.argv[1] in KEYLESS_COMMANDS
)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not TESTING and not RUNNING_KEYLESS_COMMAND:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Never serves a request: DEBUG, the test run or a keyless command must be on to get here.
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "django_countries",
    "django_htmx",
    "oms.core",
    "customers",
    "inventory",
    "orders",
    "fulfillment",
    "returns",
    "accounting",
    "reporting",
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
    # request.htmx: desk views answer htmx requests with a fragment, others with the page.
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "oms.urls"
WSGI_APPLICATION = "oms.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
# Default: a SQLite file under var/ so `make run` needs no server. DATABASE_URL switches to
# PostgreSQL (what production and CI use). Short-lived connections by default; a pool is the
# deployment's choice (CONN_MAX_AGE) because the brief measured small pools as fastest.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'oms.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Waiting for the writer lock beats failing with "database is locked" when the worker
    # and the web process write at the same moment.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Celery -------------------------------------------------------------------------
# Without REDIS_URL the broker is kombu's filesystem transport under var/celery: a worker and
# beat run beside the web server with no broker server installed. With REDIS_URL, Redis is
# the broker and the shared cache (throttling counters must be shared across processes).
REDIS_URL = env_str("REDIS_URL")
CELERY_DATA_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    for folder in ("queue", "processed", "control"):
        (CELERY_DATA_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if TESTING:
    # Tests call tasks directly; what they enqueue after a commit goes to an in-memory broker.
    # A host named, or kombu warns "No hostname was supplied" on every connection.
    CELERY_BROKER_URL = "memory://localhost/"

CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection around every task unless this is set,
# whatever CONN_MAX_AGE says; oms/celery.py closes what Django would close around a request
# instead (past CONN_MAX_AGE, or broken), so the fixup only needs to recycle now and then.
CELERY_DB_REUSE_MAX = 1000
# A task is acknowledged only after it ran, so a worker that dies mid-task leaves it queued.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A request enqueues after commit; with the broker down, Celery's default publish retries hold
# the request for ~1 s. The outbox already holds the work and the sweeps re-send it, so give
# up fast (make reliability: broker_down).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    # The outbox relay also runs right after each commit; this sweep picks up anything a lost
    # message or a broker outage left behind, so background work is delayed, never dropped.
    "relay-outbox": {"task": "oms.core.tasks.relay_outbox", "schedule": timedelta(seconds=30)},
    "sweep-unsourced-orders": {
        "task": "fulfillment.tasks.sweep_unsourced_orders",
        "schedule": timedelta(seconds=env_int("SOURCING_SWEEP_SECONDS", 60)),
    },
    "purge-idempotency-keys": {
        "task": "orders.tasks.purge_expired_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
    # Pickups are held for days (PICKUP_HOLD_DAYS); an hourly pass cancels them on time enough.
    "cancel-uncollected-pickups": {
        "task": "fulfillment.tasks.cancel_uncollected_pickups",
        "schedule": timedelta(hours=1),
    },
    # Stage SLAs are hours long; a scan every few minutes tells staff well before one breaks.
    "scan-for-jeopardy": {
        "task": "fulfillment.tasks.scan_for_jeopardy_task",
        "schedule": timedelta(seconds=env_int("JEOPARDY_SCAN_SECONDS", 300)),
    },
    # Managers read it when their day starts; the job sends each of them one email a day.
    "send-jeopardy-digests": {
        "task": "fulfillment.tasks.send_jeopardy_digests_task",
        "schedule": crontab(hour=env_int("JEOPARDY_DIGEST_HOUR", 7), minute=0),
    },
    # Suppliers take orders in days; a few runs a day catch every fall below a reorder point.
    "run-reorder-job": {
        "task": "inventory.tasks.run_reorder_job",
        "schedule": timedelta(minutes=env_int("REORDER_JOB_MINUTES", 240)),
    },
}

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    # The default hasher costs about a second per user on this hardware; tests make hundreds.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The call-center desk has its own login page; the admin keeps its own (admin:login).
LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:find"
LOGOUT_REDIRECT_URL = "desk:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
# Development and tests serve static files straight from the apps (no collectstatic needed);
# production serves what collectstatic wrote to STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not TESTING
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Off by default: `docker compose up` serves plain HTTP on localhost. Behind TLS set both
    # (README "Production environment"); the health check stays on plain HTTP inside the host.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orders.authentication.ChannelAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["oms.core.permissions.IsChannelOrStaff"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "oms.core.throttling.Pagination",
    "DEFAULT_SCHEMA_CLASS": "oms.core.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "oms.core.api.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["oms.core.throttling.PerCallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": env_str("API_THROTTLE_RATE", "600/min")},
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "OMS API",
    "DESCRIPTION": (
        "Storefront API: availability, idempotent order capture, tracking, cancellation. "
        "Authenticate with `Authorization: Api-Key <key>`. Errors are application/problem+json."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "Authorization"}
        }
    },
    # No global SECURITY: each operation lists what its authenticators accept (the staff
    # routes take HTTP Basic or a session, never an Api-Key).
    # Two models have a `status` and a `method`; name their enums instead of hashing them.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "PaymentMethodEnum": "orders.models.Payment.Method",
    },
}

# --- Domain settings ------------------------------------------------------------------------
# Retried captures must be recognised for at least a day (the storefront contract).
IDEMPOTENCY_KEY_RETENTION = timedelta(hours=env_int("IDEMPOTENCY_KEY_RETENTION_HOURS", 48))
# A line quantity past this is a typo or an attack, not an order; bulk B2B goes elsewhere.
MAX_LINE_QUANTITY = env_int("MAX_LINE_QUANTITY", 999)
MAX_ORDER_LINES = env_int("MAX_ORDER_LINES", 100)
MAX_AVAILABILITY_SKUS = 100
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "orders@oms.example")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
# Pickup orders not collected within this many days are cancelled and restocked.
PICKUP_HOLD_DAYS = env_int("PICKUP_HOLD_DAYS", 7)
# Checkout offers pickup at stores this close to the customer, nearest first.
PICKUP_SEARCH_RADIUS_KM = env_int("PICKUP_SEARCH_RADIUS_KM", 80)
PICKUP_OPTIONS_LIMIT = 5
# Each jeopardy check raises at most this many alerts per run (fulfillment.jeopardy.scan): a
# run stays around a second at 1M open orders, and a backlog drains over the next few runs.
JEOPARDY_SCAN_BATCH_SIZE = env_int("JEOPARDY_SCAN_BATCH_SIZE", 1000)
# A pickup not collected this long after the customer was told is an alert (unless an
# awaiting-pickup stage SLA says otherwise); well before PICKUP_HOLD_DAYS cancels it.
JEOPARDY_PICKUP_SLA_HOURS = env_int("JEOPARDY_PICKUP_SLA_HOURS", 48)
# Suppliers ship full cartons: a purchase-order line may bring in this much more than ordered.
PO_OVER_RECEIPT_PERCENT = env_int("PO_OVER_RECEIPT_PERCENT", 10)
# Four weeks of outbound movements smooth out a week's spike without missing a trend.
REORDER_DEMAND_WINDOW_DAYS = env_int("REORDER_DEMAND_WINDOW_DAYS", 28)
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY", "orders.payments.FakePaymentGateway")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
