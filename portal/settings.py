"""Settings of the integration portal, read from the environment.

Every variable has an embedded default for development, so a fresh clone runs
with none set. ``PORTAL_ENV=production`` switches to longer timeouts and to
the safety checks in :mod:`portal.safety`, which refuse to start on unsafe
values. README.md ("Configuration") and docs/production.md ("Environment
variables") list every variable.
"""

from pathlib import Path

import environ

from portal import safety

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Where the embedded mode keeps its files: the SQLite database, the file
# cache and the filesystem broker's messages (docs/embedded-mode.md).
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

PORTAL_ENV = env.str("PORTAL_ENV", default="development")
if PORTAL_ENV not in ("development", "production"):
    raise safety.UnsafeConfiguration(
        "PORTAL_ENV must be 'development' or 'production', not " + repr(PORTAL_ENV)
    )
IS_PRODUCTION = PORTAL_ENV == "production"

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default=safety.DEVELOPMENT_SECRET_KEY)
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[safety.DEVELOPMENT_ENCRYPTION_KEY]
)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]"],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = env.list(
    "INTEGRATIONS_ALLOW_PRIVATE_HOSTS", default=[] if IS_PRODUCTION else ["*"]
)

if IS_PRODUCTION:
    safety.check_production_settings(
        secret_key=SECRET_KEY,
        encryption_keys=FIELD_ENCRYPTION_KEYS,
        debug=DEBUG,
        allowed_hosts=ALLOWED_HOSTS,
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    # The services learners connect (docs/accounts.md); Canvas's provider is
    # the portal's own, as allauth has none.
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.gitlab",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.slack",
    "allauth.socialaccount.providers.discord",
    "allauth.socialaccount.providers.vimeo_oauth2",
    "portal.accounts.providers.canvas",
    "integrations",
    "portal.accounts",
    "portal.learning",
    "portal.events",
    "portal.exports",
    "portal.assessment",
    "portal.achievements",
    "portal.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.accounts.ratelimit.OAuthRateLimitMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"
SITE_ID = 1

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
            # The portal package is no app, so its tag libraries are named here.
            "libraries": {"analytics": "portal.templatetags.analytics"},
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite is the embedded default. Web, worker and beat share the file, so the
# connection uses WAL, a busy timeout and IMMEDIATE transactions: a writer
# takes the lock when its transaction starts instead of failing half-way
# with "database is locked" (docs/embedded-mode.md).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A fresh clone has no var/ yet, and SQLite does not create folders.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60)
    )
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
# The cache carries the shared rate-limit windows and the HTTP response cache,
# so the embedded default is a file cache every local process sees. A redis://
# URL always selects Django's own RedisCache (which needs only `redis`), even
# where django-redis happens to be installed.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
if CACHES["default"]["BACKEND"].endswith(".RedisCache"):
    CACHES["default"]["BACKEND"] = "django.core.cache.backends.redis.RedisCache"
    # A cache that hangs must not hang the request (or /readyz) with it.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 2, "socket_timeout": 2}
    )

# --- Auth -------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
# Sign-up is closed by default (learners come from syncs); when opened, an
# address must be verified before it counts for anything.
PORTAL_OPEN_SIGNUP = env.bool("PORTAL_OPEN_SIGNUP", default=False)
ACCOUNT_ADAPTER = "portal.adapters.PortalAccountAdapter"
# Whether an address must be verified before it can sign in: "mandatory",
# "optional" (a verification mail is sent, signing in works before) or
# "none". Open sign-up defaults to mandatory, so an address someone else
# typed in proves nothing until its owner clicks the link.
PORTAL_EMAIL_VERIFICATION = env.str(
    "PORTAL_EMAIL_VERIFICATION",
    default="mandatory" if PORTAL_OPEN_SIGNUP else "optional",
)
if PORTAL_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
    raise safety.UnsafeConfiguration(
        "PORTAL_EMAIL_VERIFICATION must be 'mandatory', 'optional' or 'none'."
    )
ACCOUNT_EMAIL_VERIFICATION = PORTAL_EMAIL_VERIFICATION
# Social accounts (portal/accounts): apps and tokens live encrypted in the
# portal's own tables; allauth's plaintext token table stays empty.
SOCIALACCOUNT_ADAPTER = "portal.accounts.adapter.PortalSocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_QUERY_EMAIL = True
# A service login signs in the portal user whose address is verified on both
# sides (the adapter checks the portal side) and connects the account.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_EMAIL_VERIFICATION = ACCOUNT_EMAIL_VERIFICATION
# The portal's public address: OAuth redirect URIs are built from it, never
# from the request's Host header.
PORTAL_SITE_URL = env.str(
    "PORTAL_SITE_URL",
    default=f"https://{ALLOWED_HOSTS[0]}"
    if IS_PRODUCTION and ALLOWED_HOSTS
    else f"http://127.0.0.1:{env.int('PORTAL_PORT', default=8000)}",
)
if IS_PRODUCTION and not PORTAL_SITE_URL.startswith("https://"):
    raise safety.UnsafeConfiguration(
        "PORTAL_SITE_URL must be an https:// address when PORTAL_ENV=production "
        "(OAuth redirect URIs are built from it)."
    )
# The YouTube Data API a learner's Google connection syncs playlists from.
PORTAL_YOUTUBE_API_URL = env.str(
    "PORTAL_YOUTUBE_API_URL", default="https://www.googleapis.com/youtube/v3"
)
# A GA4 measurement id (G-...) turns on Google's gtag script on the portal's
# pages (docs/providers/ga4.md); empty, the pages load nothing from Google.
PORTAL_GA4_MEASUREMENT_ID = env.str("PORTAL_GA4_MEASUREMENT_ID", default="")
# Learner tokens are refreshed this long before they expire.
PORTAL_TOKEN_REFRESH_MARGIN_SECONDS = env.int(
    "PORTAL_TOKEN_REFRESH_MARGIN_SECONDS", default=300
)
# Brute-force limits: allauth's own for sign-in, plus the portal's for the
# start and the callback of a connection (per IP and per user).
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "oauth_start": "20/m/ip,10/m/user",
    "oauth_callback": "30/m/ip,15/m/user",
}
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves collected files (collectstatic into STATIC_ROOT) through
# WhiteNoise; development serves them straight from the finders, with no
# collect step and no STATIC_ROOT unless one is set.
STATIC_ROOT = (
    env.str(
        "STATIC_ROOT", default=str(BASE_DIR / "staticfiles") if IS_PRODUCTION else ""
    )
    or None
)
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security (production) --------------------------------------------------
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_HSTS_PRELOAD = IS_PRODUCTION
# Load balancers and orchestrators probe over plain HTTP; a redirect would
# read as success and hide an unready instance.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Only the API answers cross-origin requests; the admin and sign-in pages
# never do. Cookies cross origins only when asked for: a front end on another
# origin normally sends a bearer token instead (docs/api.md).
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
CORS_PREFLIGHT_MAX_AGE = env.int("CORS_PREFLIGHT_MAX_AGE", default=3600)

# --- REST API ---------------------------------------------------------------
# Bearer tokens come first: an unauthenticated request then gets a 401 with
# "WWW-Authenticate: Bearer", where the session class alone would give a 403.
# Throttle rates are N/second|minute|hour|day; "none" disables a scope. They
# count in the default cache, which several processes share (docs/api.md).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.PortalAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.KeysetPagination",
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.api.throttling.AnonThrottle",
        "portal.api.throttling.UserThrottle",
        "portal.api.throttling.TokenThrottle",
        "portal.api.throttling.WriteThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        scope: (None if rate.strip().lower() == "none" else rate)
        for scope, rate in {
            "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
            "user": env.str("API_THROTTLE_USER", default="600/minute"),
            "token": env.str("API_THROTTLE_TOKEN", default="300/minute"),
            "write": env.str("API_THROTTLE_WRITE", default="60/minute"),
        }.items()
    },
    "EXCEPTION_HANDLER": "portal.api.exceptions.api_exception_handler",
    # Proxies in front of the portal whose X-Forwarded-For is trusted to tell
    # the client's address (anonymous throttling); 0 trusts none of it.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ORCATech integration portal API",
    "DESCRIPTION": (
        "Courses, assignments, enrollments and progress synced from the "
        "school's LMSs, for front ends. Guide: docs/api.md."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The interactive docs load Swagger UI from the sidecar package's static
    # files: nothing comes from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CourseStateEnum": "portal.learning.models.CourseState",
        "EnrollmentStateEnum": "portal.learning.models.EnrollmentState",
        "EnrollmentRoleEnum": "portal.learning.models.EnrollmentRole",
        "SyncStatusEnum": "integrations.models.SyncStatus",
    },
}

# --- Celery -----------------------------------------------------------------
# The embedded broker is kombu's filesystem transport: no server needed. It
# loses a message whose worker dies, which the database leases and the reaper
# in integrations.tasks cover. Its in and out folders must be one folder;
# portal/celery.py creates it. Kombu puts its control folder (broadcasts) in
# the working directory unless told otherwise.
BROKER_DIR = VAR_DIR / "broker"
# "localhost" only keeps kombu from warning that no host name was given.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # Seconds between looks into the folder when it is empty; kombu's 1 s
        # default adds up with late acknowledgement, one message at a time.
        "polling_interval": 0.2,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    # Kombu's transport with atomic message files (see portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat writes each periodic task's last run time after this many sends (the
# admin shows it); Celery's default waits three minutes.
CELERY_BEAT_SYNC_EVERY = env.int("CELERY_BEAT_SYNC_EVERY", default=1)
# No result backend is used, so there is nothing for a cleanup task to expire.
CELERY_RESULT_EXPIRES = None
CELERY_TIMEZONE = TIME_ZONE
# Seconds between runs of the reaper and the sweeper (integrations.tasks).
INTEGRATIONS_MAINTENANCE_INTERVAL = env.int(
    "INTEGRATIONS_MAINTENANCE_INTERVAL", default=30
)

# --- Integrations -----------------------------------------------------------
# Timeouts and retry budgets per environment: a developer wants a quick
# failure, production rides out a slow LMS. Each integration may override
# them in the admin or its declarative file.
INTEGRATIONS_HTTP_DEFAULTS = {
    "development": {
        "connect_timeout": 3.0,
        "read_timeout": 10.0,
        "retry_budget": 30.0,
        "max_retries": 3,
    },
    "production": {
        "connect_timeout": 5.0,
        "read_timeout": 30.0,
        "retry_budget": 120.0,
        "max_retries": 5,
    },
}[PORTAL_ENV]
INTEGRATIONS_HTTP_DEFAULTS.update(
    {
        key: env.float("INTEGRATIONS_" + key.upper())
        for key in ("connect_timeout", "read_timeout", "retry_budget")
        if env.str("INTEGRATIONS_" + key.upper(), default="")
    }
)
# How a remote user is matched to an existing portal user the first time a
# sync sees them: "email" (case-insensitive) or "none" (always a new user).
PORTAL_LEARNER_MATCH = env.str("PORTAL_LEARNER_MATCH", default="email")
if PORTAL_LEARNER_MATCH not in ("email", "none"):
    raise safety.UnsafeConfiguration("PORTAL_LEARNER_MATCH must be 'email' or 'none'.")
INTEGRATIONS_SYNC_LEASE_SECONDS = env.int(
    "INTEGRATIONS_SYNC_LEASE_SECONDS", default=300
)
# Records a sync stores per transaction: consecutive small pages (one per
# course, say) are stored together up to this many.
INTEGRATIONS_SYNC_BATCH_RECORDS = env.int(
    "INTEGRATIONS_SYNC_BATCH_RECORDS", default=500
)
if INTEGRATIONS_SYNC_BATCH_RECORDS < 1:
    raise safety.UnsafeConfiguration(
        "INTEGRATIONS_SYNC_BATCH_RECORDS must be 1 or more (records per transaction)."
    )

# --- Logging ----------------------------------------------------------------
# One redaction filter sits on every handler, so a secret that slips into a
# log call is masked whatever logger emitted it.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "integrations.redaction.RedactingFilter"}},
    "formatters": {
        "structured": {
            "()": "integrations.redaction.StructuredFormatter",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact_secrets"],
            "formatter": "structured",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (console when DEBUG, mail to admins, the
        # runserver request log) carry no redaction filter; route their
        # records to the root handler instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # These libraries log request URLs (with query tokens) or bodies at
        # debug level; keep them at WARNING whatever LOG_LEVEL says.
        "urllib3": {"level": "WARNING"},
        "requests": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "canvasapi": {"level": "WARNING"},
    },
}
