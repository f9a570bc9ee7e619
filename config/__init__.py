"""Configuration classes, and `load()` which layers the instance file and the environment over them.

Secrets (SECRET_KEY, provider credentials) come only from the environment or from the untracked
instance file `instance/crisiscast.cfg` (Python syntax: KEY = "value").
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("CRISISCAST_INSTANCE") or ROOT / "instance")
# While `./run` runs, the settings it chose (its private Redis on a random port, the sandbox) are in this file
# of the instance folder, so that `flask --app crisiscast.web …` run beside it reaches the same product.
DEV_RUN_FILE = "dev-run.json"

SECRET_SETTINGS = frozenset({
    "SECRET_KEY", "TWILIO_AUTH_TOKEN", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN_SECRET", "FACEBOOK_PAGE_TOKEN",
    "X_ACCESS_TOKEN", "CRISISCAST_ADMIN_PASSWORD",
})


class Config:
    """Defaults for every setting; each can be overridden by an environment variable of the same name."""

    SECRET_KEY = ""
    DATABASE_URL = ""
    REDIS_URL = ""
    QUEUE_NAME = "crisiscast"
    ORG_NAME = "Crisiscast Hospital"
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    PUBLIC_DIR = ""
    PUBLIC_MAX_AGE = 10
    WEBSUB_HUB_URL = ""
    CAP_STATUS = "Actual"
    CAP_SENDER = ""
    CAP_AREA = ""
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None

    TWILIO_ACCOUNT_SID = ""
    TWILIO_AUTH_TOKEN = ""
    TWILIO_FROM_NUMBER = ""
    TWILIO_API_BASE = "https://api.twilio.com"
    TWILIO_STATUS_CALLBACK_URL = ""
    SMS_MAX_SEGMENTS = 3
    SMS_DEFAULT_REGION = "US"
    SMS_FREQUENCY = "Alerts are sent during emergencies; frequency varies"
    SMS_HELP_CONTACT = "call the hospital's main number"
    SMS_SENDER_RATE = 1.0
    SMS_MAX_CONCURRENCY = 50
    SMS_WORKER_THREADS = 16
    SMS_BATCH_SIZE = 500

    X_CONSUMER_KEY = ""
    X_CONSUMER_SECRET = ""
    X_ACCESS_TOKEN = ""
    X_ACCESS_TOKEN_SECRET = ""
    X_HANDLE = ""
    X_API_BASE = "https://api.twitter.com"

    FACEBOOK_PAGE_ID = ""
    FACEBOOK_PAGE_TOKEN = ""
    FACEBOOK_GRAPH_VERSION = "v21.0"
    FACEBOOK_API_BASE = "https://graph.facebook.com"

    PROVIDER_TIMEOUT = 10.0
    CLAIM_LEASE_SECONDS = 120.0
    RECONCILE_SECONDS = 15.0
    RECONCILE_GRACE_SECONDS = 10.0
    BREAKER_THRESHOLD = 5
    BREAKER_COOLDOWN_SECONDS = 15.0
    BREAKER_MAX_COOLDOWN_SECONDS = 300.0
    RETRY_MAX_ATTEMPTS = 6
    RETRY_BASE_SECONDS = 2.0
    RETRY_MAX_SECONDS = 300.0

    CRISISCAST_ADMIN_PASSWORD = ""


class DevelopmentConfig(Config):
    """The dev run: SQLite in the instance folder, providers reached through the sandbox."""


class ProductionConfig(Config):
    """Behind TLS: secure cookies; SECRET_KEY and DATABASE_URL must be set."""

    SESSION_COOKIE_SECURE = True


class TestingConfig(Config):
    """The test suite: fast retries, short provider timeouts, CSRF on (tests send the token)."""

    TESTING = True
    PROVIDER_TIMEOUT = 2.0
    RETRY_BASE_SECONDS = 0.0
    RETRY_MAX_SECONDS = 0.0
    SMS_SENDER_RATE = 5000.0
    SMS_WORKER_THREADS = 8
    SMS_BATCH_SIZE = 50
    BREAKER_THRESHOLD = 50  # tests of the breaker set their own


CONFIGS = {"development": DevelopmentConfig, "production": ProductionConfig, "testing": TestingConfig}


class Settings(dict):
    """A dict of settings that also reads as attributes (settings.REDIS_URL)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def public(self) -> dict:
        """The settings with every secret masked, fit to show or log."""
        return {k: ("••••" if k in SECRET_SETTINGS and v else v) for k, v in self.items()}


def load(name: str | None = None, environ=None, instance: Path | None = None, **overrides) -> Settings:
    """The settings of config class `name` (CRISISCAST_ENV, default development), instance file, environment."""
    environ = os.environ if environ is None else environ
    instance = instance or INSTANCE
    name = name or environ.get("CRISISCAST_ENV") or "development"
    cls = CONFIGS[name]
    settings = Settings({k: getattr(cls, k) for k in dir(cls) if k.isupper()})
    settings["ENV_NAME"] = name
    settings.update(_instance_file(instance))
    settings.update(_dev_run(instance))
    for key, default in list(settings.items()):
        if key in environ:
            settings[key] = _coerce(environ[key], default)
    settings.update(overrides)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'crisiscast.db'}"
    if not settings["PUBLIC_DIR"]:
        settings["PUBLIC_DIR"] = str(instance / "public")
    if not settings["SECRET_KEY"]:
        if name == "production":
            raise RuntimeError("SECRET_KEY must be set in production.")
        settings["SECRET_KEY"] = _instance_secret_key(instance)
    return settings


def _instance_file(instance: Path) -> dict:
    path = instance / "crisiscast.cfg"
    if not path.exists():
        return {}
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.isupper()}


def write_dev_run(instance: Path, values: dict) -> Path:
    """Say, while this process runs, which settings the dev run chose (readable by its owner only)."""
    path = instance / DEV_RUN_FILE
    instance.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"pid": os.getpid(), "settings": values}, indent=1))
    return path


def _dev_run(instance: Path) -> dict:
    """The settings of the dev run using this instance folder, if one is running."""
    path = instance / DEV_RUN_FILE
    try:
        found = json.loads(path.read_text())
        os.kill(int(found["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):  # no dev run, a dead one's leftover, or a torn file
        return {}
    return dict(found["settings"])


def _instance_secret_key(instance: Path) -> str:
    """A per-install key kept in the untracked instance folder, so sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _coerce(raw: str, default):
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
