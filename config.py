"""Configuration classes; every setting can be overridden by an environment variable of the same name."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSECURE_KEYS = {"", "dev", "change-me", "dev-insecure-key"}


def _env(name, default=None):
    return os.environ.get(name, default)


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    SECRET_KEY = _env("SECRET_KEY", "dev-insecure-key")  # production refuses this default
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'tracker.db'}")
    # Connection pool per process (PostgreSQL): each gunicorn worker keeps DB_POOL_SIZE connections,
    # DB_MAX_OVERFLOW more at peaks; servers x workers x (size + overflow) + schedulers must stay
    # below PostgreSQL's max_connections (docs/deployment.md). Ignored by SQLite.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    if _env("DATABASE_URL", "").startswith("postgresql"):
        SQLALCHEMY_ENGINE_OPTIONS |= {
            "pool_size": _env_int("DB_POOL_SIZE", 5),
            "max_overflow": _env_int("DB_MAX_OVERFLOW", 5),
            "pool_recycle": _env_int("DB_POOL_RECYCLE_SECONDS", 1800),
            "pool_timeout": _env_int("DB_POOL_TIMEOUT_SECONDS", 10),
        }
    TIMEZONE = _env("TIMEZONE", "Asia/Shanghai")
    TRACKER_NOW = _env("TRACKER_NOW")
    BABEL_DEFAULT_LOCALE = _env("BABEL_DEFAULT_LOCALE", "zh")
    BABEL_DEFAULT_TIMEZONE = TIMEZONE
    LANGUAGES = {"zh": "中文", "en": "English"}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = _env_int("SESSION_LIFETIME_SECONDS", 8 * 3600)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; a long form must not expire mid-typing
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 21 * 1024 * 1024)  # a request: upload + form fields
    EVIDENCE_MAX_BYTES = _env_int("EVIDENCE_MAX_BYTES", 20 * 1024 * 1024)
    LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCKOUT_MINUTES = _env_int("LOGIN_LOCKOUT_MINUTES", 15)
    PASSWORD_MIN_LENGTH = _env_int("PASSWORD_MIN_LENGTH", 10)
    PAGE_SIZE = _env_int("PAGE_SIZE", 50)
    # Uploaded files (imports, evidence) live here, outside the web root, under random names.
    STORAGE_DIR = _env("STORAGE_DIR", str(BASE_DIR / "instance" / "storage"))
    # Where uploaded files are kept (tracker/core/storage.py): "dir" = under STORAGE_DIR (with several
    # app servers, a disk they all mount there), "s3" = a bucket of S3-compatible object storage.
    STORAGE_BACKEND = _env("STORAGE_BACKEND", "dir")
    # For "s3": the bucket (it must exist), the service's address (empty = AWS itself; e.g.
    # http://127.0.0.1:9000 for MinIO), its region, and a prefix put before every key (e.g.
    # "tracker/"). Credentials come from the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    # (/ AWS_SESSION_TOKEN, AWS_PROFILE) environment variables, never from this file.
    S3_BUCKET = _env("S3_BUCKET", "")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL", "")
    S3_REGION = _env("S3_REGION", "")
    S3_PREFIX = _env("S3_PREFIX", "")
    # "auto", "path" (bucket in the path, e.g. MinIO) or "virtual" (bucket in the host name, which
    # some providers require).
    S3_ADDRESSING_STYLE = _env("S3_ADDRESSING_STYLE", "auto")
    # Logs of the web and scheduler processes: "text" or "json" (one object per line, for a log
    # collector), the level, and one line per request (method, route, status, ms; no query strings).
    LOG_FORMAT = _env("LOG_FORMAT", "text")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    LOG_REQUESTS = _env_bool("LOG_REQUESTS", False)
    # /healthz says "degraded" when the scheduler has run no job for this long (it delivers every minute).
    SCHEDULER_STALE_MINUTES = _env_int("SCHEDULER_STALE_MINUTES", 5)
    # Comma-separated Fernet keys for complainant identity; the first encrypts, all decrypt (rotation).
    FIELD_ENCRYPTION_KEYS = _env("FIELD_ENCRYPTION_KEYS", "")
    # Key of the HMAC that seals every audit row; required in production (outside it, derived from
    # SECRET_KEY). Never change it: the rows sealed with it stop verifying under another key.
    AUDIT_HMAC_KEY = _env("AUDIT_HMAC_KEY", "")
    # A file outside the database that gets the audit chain's head appended at each commit, so that
    # `flask audit verify` finds a chain cut short (empty: off; the head is logged either way).
    AUDIT_ANCHOR_FILE = _env("AUDIT_ANCHOR_FILE", "")
    # Outgoing e-mail (admins can override these on the alert settings page).
    MAIL_SERVER = _env("MAIL_SERVER", "")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USERNAME = _env("MAIL_USERNAME", "")
    MAIL_PASSWORD = _env("MAIL_PASSWORD", "")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "tracker@localhost")
    # Where people reach the app, without a trailing slash (e.g. https://zhenggai.example.gov.cn): the
    # scheduled e-mails are written outside any request, so their links (dashboard, overdue list) are
    # built on this address.
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # A leader with no units in charge sees nothing unless this is on (then leaders see all units).
    LEADERS_SEE_ALL = _env_bool("LEADERS_SEE_ALL", False)
    # Flask-Limiter: where the per-address counters live ("memory://" for one process; a Redis URL,
    # e.g. redis://127.0.0.1:6379/0, so that several app servers share them: needs the redis package,
    # which requirements.txt installs).
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Proxies in front of the app that set X-Forwarded-For/-Proto/-Host (1 behind one nginx; 0 when
    # the app is reached directly: then such headers are ignored, as anyone could send them).
    PROXY_HOPS = _env_int("PROXY_HOPS", 0)
    # The public lookup (/track): tries per address.
    PUBLIC_LOOKUP_LIMIT = _env("PUBLIC_LOOKUP_LIMIT", "10 per minute;60 per hour")


class DevelopmentConfig(Config):
    DEBUG = False
    # `make run` starts `flask alerts sink`, which catches mail on this port.
    MAIL_SERVER = _env("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = _env_int("MAIL_PORT", 8025)


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - tests only
    SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
    TRACKER_NOW = None
    # Cheap hashing keeps the suite fast; production uses argon2's defaults.
    PASSWORD_HASH_FAST = True


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    @classmethod
    def check(cls):
        """Refuse settings that are unsafe in production; raises RuntimeError."""
        if (os.environ.get("SECRET_KEY") or "") in INSECURE_KEYS or len(os.environ["SECRET_KEY"]) < 16:
            raise RuntimeError("Production needs SECRET_KEY set to a random value of 16+ characters.")
        if not os.environ.get("FIELD_ENCRYPTION_KEYS"):
            raise RuntimeError("Production needs FIELD_ENCRYPTION_KEYS (flask --app wsgi intake new-key prints one).")
        if os.environ.get("TRACKER_NOW"):
            raise RuntimeError("TRACKER_NOW pins the clock and is refused in production.")
        if len(os.environ.get("AUDIT_HMAC_KEY") or "") < 16:
            raise RuntimeError(
                "Production needs AUDIT_HMAC_KEY set to a random value of 16+ characters (never change it)."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def get_config(name=None):
    """The config class for NAME, or for $TRACKER_ENV (default development)."""
    name = name or os.environ.get("TRACKER_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown TRACKER_ENV {name!r}; use one of {', '.join(CONFIGS)}") from None
