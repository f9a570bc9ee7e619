"""Configuration classes, and `load()` which layers the instance file and the environment over them.

Secrets (SECRET_KEY, provider credentials) come only from the environment or from the untracked
instance file `instance/crisiscast.cfg` (Python syntax: KEY = "value").
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from pathlib import Path

from crisiscast.settings import SECRET_SETTINGS, Settings, SettingsError, did_you_mean, unknown_in_environment  # noqa: F401

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("CRISISCAST_INSTANCE") or ROOT / "instance")
# While `./run` runs, the settings it chose (its private Redis on a random port, the sandbox) are in this file
# of the instance folder, so that `flask --app crisiscast.web …` run beside it reaches the same product.
DEV_RUN_FILE = "dev-run.json"
# The key signs every session cookie: 32 characters of secrets.token_hex are 128 bits.
MIN_SECRET_KEY_LENGTH = 32


class Config:
    """Settings every environment shares beyond the defaults in crisiscast.settings.Settings (none today)."""


class DevelopmentConfig(Config):
    """The dev run: SQLite in the instance folder, providers reached through the sandbox."""


class ProductionConfig(Config):
    """Behind TLS: secure cookies; SECRET_KEY and DATABASE_URL must be set."""

    SESSION_COOKIE_SECURE = True


class TestingConfig(Config):
    """The test suite: fast retries, short provider timeouts, CSRF on (tests send the token)."""

    PROVIDER_TIMEOUT = 2.0
    RETRY_BASE_SECONDS = 0.0
    RETRY_MAX_SECONDS = 0.0
    SMS_SENDER_RATE = 5000.0
    SMS_WORKER_THREADS = 8
    SMS_BATCH_SIZE = 50
    BREAKER_THRESHOLD = 50  # tests of the breaker set their own


CONFIGS = {"development": DevelopmentConfig, "production": ProductionConfig, "testing": TestingConfig}


def load(name: str | None = None, environ=None, instance: Path | None = None, defaults: dict | None = None,
         **overrides) -> Settings:
    """The validated settings of config class `name` (CRISISCAST_ENV, default development), a launcher's
    `defaults`, the instance file and the environment, in that order; raises SettingsError naming every bad
    or unknown setting."""
    environ = os.environ if environ is None else environ
    instance = instance or INSTANCE
    name = name or environ.get("CRISISCAST_ENV") or "development"
    if name not in CONFIGS:
        raise SettingsError(f"CRISISCAST_ENV = {name!r}: must be one of {', '.join(CONFIGS)}")
    values = {k: getattr(CONFIGS[name], k) for k in dir(CONFIGS[name]) if k.isupper()}
    values.update(defaults or {})
    values.update(_instance_file(instance))
    values.update(_dev_run(instance))
    values.update({k: environ[k] for k in Settings.model_fields if k in environ})
    values.update(overrides, CRISISCAST_ENV=name)
    for key in unknown_in_environment(environ):
        log.warning("environment variable %s is not a crisiscast setting%s; it is ignored", key, did_you_mean(key))
    if name == "production":
        _refuse_unsafe_production(values)
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = f"sqlite:///{instance / 'crisiscast.db'}"
    if not values.get("PUBLIC_DIR"):
        values["PUBLIC_DIR"] = str(instance / "public")
    if not values.get("SECRET_KEY"):
        values["SECRET_KEY"] = _instance_secret_key(instance)
    return Settings.validated(values)


def _refuse_unsafe_production(values: dict) -> None:
    """Production starts only with a strong SECRET_KEY and a DATABASE_URL of its own: no silent SQLite file
    or made-up key in the instance folder, where a lost disk would take every session and update with it."""
    problems = []
    key = str(values.get("SECRET_KEY") or "")
    make_one = "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
    if not key:
        problems.append(f"SECRET_KEY must be set in production; {make_one}")
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is {len(key)} characters long: production needs at least "
                        f"{MIN_SECRET_KEY_LENGTH}; {make_one}")
    if not values.get("DATABASE_URL"):
        problems.append("DATABASE_URL must be set in production (postgresql://user:password@host/name); "
                        "crisiscast does not fall back to a SQLite file there")
    if problems:
        raise SettingsError("Refusing to start in production:\n  " + "\n  ".join(problems))


def _instance_file(instance: Path) -> dict:
    path = instance / "crisiscast.cfg"
    if not path.exists():
        return {}
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    values = {k: v for k, v in namespace.items() if k.isupper()}
    unknown = [f"{k}{did_you_mean(k)}" for k in values if k not in Settings.model_fields]
    if unknown:
        raise SettingsError(f"{path} sets what is not a crisiscast setting: {', '.join(unknown)}")
    return values


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
        _create_once(path, secrets.token_hex(32))
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)  # written readable by others before this version
    return path.read_text().strip()


def _create_once(path: Path, text: str) -> None:
    """Write `text` to `path` unless it is there already, readable by its owner only.

    The text goes whole into a private temporary file (mkstemp makes it 0600) that is then hard-linked into
    place, which fails if the path exists: of processes starting at once, the first link wins and every one
    reads that key. (os.replace would let the last writer win after the first had already read its own.)
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
