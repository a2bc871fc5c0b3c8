"""Settings for the Aftercare console, all from the environment.

With nothing set the console runs embedded: SQLite and Celery's filesystem broker under var/,
so a fresh clone needs no server. DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis.
DJANGO_ENV=production refuses to start without a real SECRET_KEY and an explicit encryption key, and
turns on the secure defaults that `manage.py check --deploy` asks for.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AFTERCARE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


ENVIRONMENT = os.environ.get("DJANGO_ENV", "development").lower()
PRODUCTION = ENVIRONMENT == "production"

# A development key is only ever used outside production; production refuses it below.
DEV_SECRET_KEY = "dev-only-insecure-key-not-for-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == DEV_SECRET_KEY or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production needs SECRET_KEY set to a random value of at least 50 characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# Stored secrets (shop keys, CRM tokens, webhook secrets) are encrypted with this Fernet key
# (integrations/crypto.py). Production needs it explicit: derived from SECRET_KEY, as it is elsewhere
# when unset, rotating SECRET_KEY would make every stored secret unreadable. Previous keys are read
# during a rotation (manage.py rotate_encryption_key), never written.
AFTERCARE_ENCRYPTION_KEY = os.environ.get("AFTERCARE_ENCRYPTION_KEY", "").strip() or None
AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = env_list("AFTERCARE_PREVIOUS_ENCRYPTION_KEYS")
if PRODUCTION and not AFTERCARE_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "DJANGO_ENV=production needs AFTERCARE_ENCRYPTION_KEY, the Fernet key stored secrets are encrypted with "
        "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'); an install "
        "that ran without one: see `python manage.py rotate_encryption_key --help`."
    )
for _key in filter(None, [AFTERCARE_ENCRYPTION_KEY, *AFTERCARE_PREVIOUS_ENCRYPTION_KEYS]):
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "AFTERCARE_ENCRYPTION_KEY and AFTERCARE_PREVIOUS_ENCRYPTION_KEYS take Fernet keys: 32 bytes in url-safe "
            "base64, 44 characters (python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        ) from None

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "simple_history",
    "import_export",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's JS and CSS served locally: the docs page needs no CDN
    "axes",  # failed logins: each account and address locked after too many (console/logins.py)
    "lifecycle",
    "integrations",
    "integrations.erp",
    "integrations.crm",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A NUL character or an over-long value in a search, filter or autocomplete: a 400, not a 500.
    "console.middleware.InputLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a login refused for too many failures into its refusal page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

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
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'aftercare.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves web, worker and beat at once: WAL lets readers run beside the
    # writer, IMMEDIATE transactions take the write lock up front (no upgrade deadlocks), and the
    # timeout waits for the lock instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so a Celery worker started by a test sees the test database; one per
    # process, so two test runs side by side never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_aftercare_{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares a statement once a connection has run it this often on a cursor that binds on
    # the server. Only the hot statements of lifecycle/db/rows.py use such cursors (Django's bind
    # on the client and are never prepared): planning them cost more than running them. Empty turns
    # it off, for a pooler that cannot keep prepared statements (PgBouncer in transaction mode < 1.21).
    _prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(_prepare) if _prepare else None
    # PostgreSQL compiles a statement it estimates costly (a batch's UPDATE … FROM unnest of a
    # thousand rows) to machine code first: tens of milliseconds of CPU a statement, to save less
    # than that on statements this console runs in a few. Off, a 100,000-row ERP import used 30 CPU
    # seconds instead of 42 (benchmarks/bench_erp_import.py). DB_JIT=on turns it back on; empty sends
    # no option, leaving the server's setting (a pooler refusing start-up options: PgBouncer without
    # ignore_startup_parameters = options).
    _jit = os.environ.get("DB_JIT", "off")
    if _jit in ("on", "off"):
        DATABASES["default"]["OPTIONS"]["options"] = f"-c jit={_jit}"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere, per language ("4 Dec 2026, 14:03" in English): console/formats/.
# Templates show moments with {{ value|when }} (console/templatetags/when.py), admin lists with
# console.admin.base.when_column.
FORMAT_MODULE_PATH = ["console.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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

LOGIN_URL = "admin:login"

# Failed logins (django-axes, console/logins.py): an account is locked after 5 failures, an address
# (an office may share one) after 30, each until 15 minutes pass without another try or a manager
# unlocks it (admin: Login lockouts).
AUTHENTICATION_BACKENDS = ["console.logins.LockoutBackend", "console.permissions.PermissionBackend"]
AXES_HANDLER = "console.logins.LoginLimitsHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = 5
AFTERCARE_LOGIN_ADDRESS_LIMIT = 30
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "console.logins.lockout_response"
AXES_CLIENT_IP_CALLABLE = "console.logins.client_address"
AXES_ENABLE_ADMIN = False  # console/admin/logins.py is the managers' page
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not this feature's business
AXES_VERBOSE = False  # no banner at every start; failures are still logged (account and address)
# Proxies in front of the console that append the client's address to X-Forwarded-For: the address a
# login is counted against is the one the outermost added. 0: REMOTE_ADDR (no proxy). Production's
# default is the one TLS-terminating proxy the README describes.
AFTERCARE_TRUSTED_PROXIES = int(os.environ.get("AFTERCARE_TRUSTED_PROXIES", "1" if PRODUCTION else "0"))
LOGIN_REDIRECT_URL = "console:home"  # the agent home is where work starts

# Error pages and reports hide sensitive variables and POST parameters with DEBUG on too, and the
# settings and environment values that carry passwords in a URL (console/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "console.reporting.ExceptionReporterFilter"

# Every handler redacts customers' emails and phones and search terms (console/redaction.py), runserver's
# request log included (Django's own "django.server" handler, redefined here with the filter).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "console.redaction.RedactPersonalData"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # failures and lockouts, not a line for every successful login
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# --- Security (production) ------------------------------------------------------------------
if PRODUCTION:
    # Static files from the app server (after collectstatic); runserver serves them in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every page: scripts, styles, fonts, images and requests from the console's
# own origin only, no plugin, no framing, forms posting only here. Scripts may not be inline (no
# injected <script>, no onclick=). 'unsafe-eval': Unfold's Alpine.js compiles the expressions in its
# templates' attributes with Function(); styles may be inline (Unfold, Swagger UI and select2 set them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Celery ---------------------------------------------------------------------------------
# With a host named (one kombu ignores for files), kombu does not warn on every task sent that none was.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_FILESYSTEM_DIR = Path(os.environ.get("CELERY_FILESYSTEM_DIR", VAR_DIR / "broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Our tasks write their effect to the database; nobody reads Celery results.
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a worker killed mid-task leaves it for another worker;
# prefetch 1 keeps one slow task from holding a queue of others hostage.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's consumer, surviving a broker restart with a task in flight (console/consumer.py).
CELERY_WORKER_CONSUMER = "console.consumer:Consumer"
# autodiscover_tasks() only finds <app>.tasks; the integrations' tasks live one package deeper.
CELERY_IMPORTS = ("integrations.woocommerce.tasks", "integrations.erp.tasks", "integrations.crm.tasks")
# Each queue has workers of its own in production (the Procfile's one worker consumes all four): the
# shops' deliveries (drains) never wait behind a sweep, the sweeps and imports (heavy, and dropped when
# late: CELERY_BEAT_SCHEDULE) never behind a flood of deliveries, the CRM's deliveries (paced by
# HubSpot, up to seconds per batch) behind neither; "celery" keeps the short follow-ups (routing
# customers to agents with room).
CELERY_TASK_ROUTES = {
    "integrations.crm.tasks.*": {"queue": "crm"},
    "integrations.woocommerce.tasks.drain_store": {"queue": "drains"},
    "integrations.woocommerce.tasks.drain_waiting_stores": {"queue": "drains"},
    "integrations.woocommerce.tasks.process_inbound_event": {"queue": "drains"},
    "integrations.woocommerce.tasks.sync_woocommerce_stores": {"queue": "sweeps"},
    "integrations.woocommerce.tasks.backfill_store": {"queue": "sweeps"},
    "integrations.erp.tasks.*": {"queue": "sweeps"},
    "lifecycle.tasks.assign_unowned_customers": {"queue": "sweeps"},
    "lifecycle.tasks.sweep_sla": {"queue": "sweeps"},
    "lifecycle.tasks.reconcile_orders": {"queue": "sweeps"},
    "lifecycle.tasks.recompute_health": {"queue": "sweeps"},
    "lifecycle.tasks.follow_health": {"queue": "sweeps"},
    "lifecycle.tasks.sweep_churn": {"queue": "sweeps"},
    "lifecycle.tasks_journeys.*": {"queue": "sweeps"},
}

# --- Admin (Unfold) -------------------------------------------------------------------------
from console.unfold_config import UNFOLD  # noqa: E402, F401  (kept in its own module: it is long)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: an anonymous request then gets 401 with `WWW-Authenticate: Token` (DRF takes the
    # header from the first class; with session auth first it would answer 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Aftercare API",
    "DESCRIPTION": (
        "Read API for helpdesk sidebars and scripts: who owns a customer, its stage, orders as each system "
        "reports them, open exceptions and the timeline. Authenticate with `Authorization: Token <key>` "
        "(tokens: admin › Auth Token, or `manage.py create_api_token USERNAME`); a token acts with its user's "
        "permissions. Customers you may not see answer 404."
    ),
    "VERSION": "1.0.0",
    # The schema documents data shapes: reading it needs a login like the data does.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Two choice sets share the field name "kind" (exception kinds, actor kinds): name them apart. An
    # order's state and what each source's status means are one choice set: one name.
    "ENUM_NAME_OVERRIDES": {
        "ExceptionKindEnum": "lifecycle.models.exceptions.ExceptionKind",
        "ActorKindEnum": "lifecycle.actors.ActorKind.choices",
        "OrderStateEnum": "lifecycle.models.OrderState",
        "StepStateEnum": "lifecycle.models.StepState",
        "JourneyStatusEnum": "lifecycle.models.JourneyStatus",
        "ExceptionStatusEnum": "lifecycle.models.exceptions.ExceptionStatus",  # "status" too, a journey's apart
    },
    # From drf-spectacular-sidecar (static files), not a CDN: production hosts may have no way out.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Domain defaults ------------------------------------------------------------------------
# The largest webhook body accepted, in bytes; larger ones get 413 unread. WooCommerce orders are a
# few KB (tens with hundreds of lines); Django's own request limit (2.5 MB) was the limit until now.
AFTERCARE_WEBHOOK_MAX_BYTES = int(os.environ.get("AFTERCARE_WEBHOOK_MAX_BYTES", str(2_621_440)))
# Refused deliveries (bad signature, too large, malformed) recorded per store and minute; past it they
# get 429 unrecorded, so a flood cannot fill the database. Signed deliveries are never limited: a shop
# whose secret changed on one side is diagnosed by its first few hundred (integrations/woocommerce/refusals.py).
AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE = int(os.environ.get("AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE", "300"))
# A folder the ERP exports into: beat imports each finished file once and moves it to done/ or
# failed/ (integrations/erp/drop.py). Unset: no drop folder.
ERP_DROP_DIR = os.environ.get("ERP_DROP_DIR") or None
# Set: a dropped file's valid rows apply and its invalid ones stay on the batch with a sync_failure;
# unset (the default): invalid rows reject the whole file, as an upload does unless the operator chooses.
ERP_DROP_SKIP_INVALID = env_bool("ERP_DROP_SKIP_INVALID", False)
# Agents carry this many open items unless a manager sets their own capacity.
AFTERCARE_DEFAULT_AGENT_CAPACITY = int(os.environ.get("AFTERCARE_DEFAULT_AGENT_CAPACITY", "40"))

# Beat entries are synced into django-celery-beat's tables at start, where managers can edit them.
# A late run is dropped by "expire_seconds", the field beat's DatabaseScheduler stores and sends as the
# message's expiry (it ignores Celery's "expires" option).
from celery.schedules import crontab  # noqa: E402  (the nightly entries run at a time of day)

CELERY_BEAT_SCHEDULE = {
    "assign-unowned-customers": {"task": "lifecycle.tasks.assign_unowned_customers", "schedule": 300.0},
    # SLA breaches escalate within a minute; a run that waited past the next one is dropped (its expiry),
    # since the next run does the same work.
    "sweep-sla": {"task": "lifecycle.tasks.sweep_sla", "schedule": 60.0, "options": {"expire_seconds": 55}},
    # Customers waiting for an agent reach one when room appears (a task queued by the change that
    # made it); this sweep catches what a lost message left, within a minute.
    "route-waiting-customers": {"task": "lifecycle.tasks.route_waiting_customers", "schedule": 60.0,
                                "options": {"expire_seconds": 55}},
    # Stores whose deliveries wait past a minute: a lost wake-up (see integrations/woocommerce/wakeups.py).
    "drain-waiting-deliveries": {"task": "integrations.woocommerce.tasks.drain_waiting_stores", "schedule": 60.0,
                                 "options": {"expire_seconds": 55}},
    # Repairs what webhooks missed (a disabled webhook, downtime); cheap when nothing changed.
    "sync-woocommerce-stores": {"task": "integrations.woocommerce.tasks.sync_woocommerce_stores", "schedule": 900.0},
    # ERP exports dropped into ERP_DROP_DIR (unset: the run does nothing); see integrations/erp/drop.py.
    "import-erp-drop-folder": {"task": "integrations.erp.tasks.import_erp_drop_folder", "schedule": 60.0,
                               "options": {"expire_seconds": 55}},
    # Systems that disagree about an order past a tolerance window (lifecycle/services/reconcile.py):
    # each run compares only what changed or came due since the last; a late run is dropped.
    "reconcile-orders": {"task": "lifecycle.tasks.reconcile_orders", "schedule": 300.0,
                         "options": {"expire_seconds": 290}},
    # The CRM's outbox: retries that came due and changes whose wake-up was lost (integrations/crm/outbox.py).
    "deliver-crm-outbox": {"task": "integrations.crm.tasks.deliver_crm_outbox", "schedule": 60.0,
                           "options": {"expire_seconds": 55}},
    # What changed in the CRM (owners, stages, deals, activities) since the saved cursors, and webhook
    # deliveries whose processing waited (integrations/crm/pulls.py); a late run is dropped.
    "pull-crm-changes": {"task": "integrations.crm.tasks.pull_crm_changes", "schedule": 60.0,
                         "options": {"expire_seconds": 55}},
    # The first 30 days (lifecycle/services/journeys/): new timeline events complete or re-time journey steps,
    # then overdue steps are missed and their teams get a missed_touchpoint; a late run is dropped.
    "sweep-journeys": {"task": "lifecycle.tasks_journeys.sweep_journeys", "schedule": 60.0,
                       "options": {"expire_seconds": 55}},
    # Health (lifecycle/services/health*.py): new timeline events make scores stale and are recomputed
    # within a minute; every score is recomputed nightly (activity fades, delivery windows close); the
    # churn window is swept daily after it.
    "follow-health": {"task": "lifecycle.tasks.follow_health", "schedule": 60.0, "options": {"expire_seconds": 55}},
    "recompute-health": {"task": "lifecycle.tasks.recompute_health", "schedule": crontab(hour=3, minute=15)},
    "sweep-churn": {"task": "lifecycle.tasks.sweep_churn", "schedule": crontab(hour=4, minute=15)},
}
