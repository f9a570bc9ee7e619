"""Every setting crisiscast reads: its type, its default, what it accepts. Validated once, at start.

config/ layers its per-environment classes, the instance file and the environment; this model turns the
result into typed values or stops start-up with a message naming each bad setting and what it accepts.
Code reads attributes (`settings.SMS_SENDER_RATE`); the mapping methods are for Flask's `config.update`
and for handing settings on to a child process's environment.
"""
from __future__ import annotations

import difflib
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Seconds = Annotated[float, Field(gt=0)]
Positive = Annotated[int, Field(ge=1)]

# Variables that only the dev run (`./run`) reads; documented beside the settings, never part of them.
LAUNCHER_VARIABLES = frozenset({"CRISISCAST_SANDBOX", "PORT", "SANDBOX_PORT", "CRISISCAST_INSTANCE"})
# An environment variable with one of these prefixes that is not a setting is most likely a misspelt one.
KNOWN_PREFIXES = ("CRISISCAST_", "TWILIO_", "SMS_", "X_", "FACEBOOK_", "CAP_", "PUBLIC_", "RECONCILE_",
                  "BREAKER_", "RETRY_", "CLAIM_", "SIGN_IN_", "APPROVAL_")
KNOWN_PREFIXES += ("BLUESKY_",)
KNOWN_PREFIXES += ("MASTODON_",)
SECRET_SETTINGS = frozenset({
    "SECRET_KEY", "TWILIO_AUTH_TOKEN", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN_SECRET", "FACEBOOK_PAGE_TOKEN",
    "X_ACCESS_TOKEN", "CRISISCAST_ADMIN_PASSWORD",
}) | {"BLUESKY_APP_PASSWORD"} | {"MASTODON_ACCESS_TOKEN"}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")


class SettingsError(RuntimeError):
    """One or more settings have values crisiscast cannot run with; the message names each."""


class Settings(BaseModel):
    """The validated settings. Immutable: `replace()` gives a copy with some values changed."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    CRISISCAST_ENV: Literal["development", "production", "testing"] = "development"
    SECRET_KEY: str = ""
    DATABASE_URL: Annotated[str, Field(pattern=r"^(sqlite|postgresql)(\+\w+)?://")] = "sqlite://"
    REDIS_URL: str = ""
    QUEUE_NAME: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")] = "crisiscast"
    ORG_NAME: Annotated[str, Field(min_length=1, max_length=80)] = "Crisiscast Hospital"
    TIMEZONE: str = "UTC"
    PUBLIC_BASE_URL: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$")] = "http://127.0.0.1:5000"
    PUBLIC_DIR: str = ""
    PUBLIC_MAX_AGE: Annotated[int, Field(ge=0)] = 10
    WEBSUB_HUB_URL: Annotated[str, Field(pattern=r"^(https?://\S+)?$")] = ""
    # The staff list texted when a promised update is overdue, and how often again while it stays overdue.
    ONCALL_LIST: Annotated[str, Field(min_length=1, max_length=60)] = "staff-on-call"
    OVERDUE_REMINDER_MINUTES: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    CAP_STATUS: Literal["Actual", "Exercise", "Test"] = "Actual"
    CAP_SENDER: str = ""
    CAP_AREA: str = ""
    # Exercises (drills): "off" skips X, Facebook, Bluesky and Mastodon for them; "on" posts them (a sandbox or test accounts).
    EXERCISE_SOCIAL: Literal["off", "on"] = "off"
    PHI_ALLOWED_CONTACTS: Annotated[str, Field(max_length=2000)] = ""
    SESSION_COOKIE_SECURE: bool = False
    SESSION_COOKIE_SAMESITE: Literal["Lax", "Strict"] = "Lax"
    WTF_CSRF_TIME_LIMIT: Annotated[int, Field(ge=60)] | None = None
    SESSION_IDLE_HOURS: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    SESSION_MAX_HOURS: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0
    TRUSTED_PROXIES: Annotated[int, Field(ge=0, le=5)] = 0
    HSTS_MAX_AGE: Annotated[int, Field(ge=0)] = 31_536_000
    SIGN_IN_LIMIT_PER_USERNAME: str = "5/minute;20/hour"
    SIGN_IN_LIMIT_PER_IP: str = "20/minute"
    MAX_CONTENT_LENGTH: Annotated[int, Field(ge=64 * 1024)] = 6 * 1024 * 1024

    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: str = ""
    TWILIO_FROM_NUMBER: str = ""
    TWILIO_MESSAGING_SERVICE_SID: str = ""
    TWILIO_API_BASE: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://api.twilio.com"
    TWILIO_STATUS_CALLBACK_URL: Annotated[str, Field(pattern=r"^(https?://\S+)?$")] = ""
    SMS_MAX_SEGMENTS: Annotated[int, Field(ge=1, le=10)] = 3
    SMS_VALIDITY_SECONDS: Annotated[int, Field(ge=1, le=36000)] = 1800
    SMS_DEFAULT_REGION: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "US"
    SMS_ALLOWED_COUNTRIES: Annotated[str, Field(pattern=r"^\s*([A-Z]{2}(\s*,\s*[A-Z]{2})*)?\s*$")] = ""
    SMS_REPLY_LIMIT: Annotated[int, Field(ge=1, le=1000)] = 5
    SMS_REPLY_WINDOW_SECONDS: Annotated[int, Field(ge=1)] = 3600
    SMS_CONFIRM_ADDED: bool = False
    SMS_FREQUENCY: str = "Alerts are sent during emergencies; frequency varies"
    SMS_HELP_CONTACT: str = "call the hospital's main number"
    # Segments per second (Twilio's MPS) for the sender, or for a Messaging Service's whole pool.
    SMS_SENDER_RATE: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    SMS_SENDER_TYPE: Literal["long_code", "toll_free", "10dlc", "short_code"] = "long_code"
    SMS_MAX_CONCURRENCY: Annotated[int, Field(ge=1, le=10_000)] = 50
    SMS_WORKER_THREADS: Annotated[int, Field(ge=1, le=500)] = 16
    SMS_BATCH_SIZE: Annotated[int, Field(ge=1, le=100_000)] = 500

    X_CONSUMER_KEY: str = ""
    X_CONSUMER_SECRET: str = ""
    X_ACCESS_TOKEN: str = ""
    X_ACCESS_TOKEN_SECRET: str = ""
    X_HANDLE: str = ""
    X_API_BASE: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://api.twitter.com"

    FACEBOOK_PAGE_ID: str = ""
    FACEBOOK_PAGE_TOKEN: str = ""
    FACEBOOK_GRAPH_VERSION: Annotated[str, Field(pattern=r"^v\d+\.\d+$")] = "v21.0"
    FACEBOOK_API_BASE: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://graph.facebook.com"

    BLUESKY_HANDLE: Annotated[str, Field(pattern=r"^(@?[A-Za-z0-9.-]+|did:[a-z]+:\S+)?$")] = ""
    BLUESKY_APP_PASSWORD: str = ""
    BLUESKY_PDS_URL: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://bsky.social"

    # Mastodon (issue #16): the instance the hospital's account is on, and that account's access token.
    MASTODON_BASE_URL: Annotated[str, Field(pattern=r"^(https?://\S+)?$")] = ""
    MASTODON_ACCESS_TOKEN: str = ""

    PROVIDER_TIMEOUT: Seconds = 10.0
    CLAIM_LEASE_SECONDS: Annotated[float, Field(ge=1)] = 120.0
    RECONCILE_SECONDS: Seconds = 15.0
    RECONCILE_GRACE_SECONDS: Annotated[float, Field(ge=0)] = 10.0
    BREAKER_THRESHOLD: Positive = 5
    BREAKER_COOLDOWN_SECONDS: Seconds = 15.0
    BREAKER_MAX_COOLDOWN_SECONDS: Seconds = 300.0
    RETRY_MAX_ATTEMPTS: Positive = 6
    RETRY_BASE_SECONDS: Annotated[float, Field(ge=0)] = 2.0
    RETRY_MAX_SECONDS: Annotated[float, Field(ge=0)] = 300.0

    # Two-person approval: off for a single-person deployment; on, an author's Publish waits for an approver.
    APPROVAL_REQUIRED: bool = False
    APPROVAL_TIMEOUT_MINUTES: Annotated[float, Field(gt=0, le=24 * 60)] = 5.0
    APPROVAL_NOTIFY_LIST: Annotated[str, Field(max_length=40)] = ""

    CRISISCAST_ADMIN_PASSWORD: str = ""

    @field_validator("WTF_CSRF_TIME_LIMIT", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value

    @field_validator("SIGN_IN_LIMIT_PER_USERNAME", "SIGN_IN_LIMIT_PER_IP")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("must be rates such as 5/minute;20/hour") from None
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, OSError, ZoneInfoNotFoundError):  # OSError: a name longer than a file name
            raise ValueError("must be an IANA time zone name, such as America/Chicago") from None
        return value

    @field_validator("TWILIO_FROM_NUMBER")
    @classmethod
    def _e164(cls, value: str) -> str:
        if value and not _E164.match(value):
            raise ValueError("must be a phone number in E.164 form, such as +15125550100")
        return value

    @field_validator("TWILIO_MESSAGING_SERVICE_SID")
    @classmethod
    def _messaging_service(cls, value: str) -> str:
        if value and not _MESSAGING_SERVICE.match(value):
            raise ValueError("must be a Messaging Service SID: MG and 32 hexadecimal digits")
        return value

    def __init__(self, values=None, /, **changes):
        super().__init__(**{**(values or {}), **changes})

    @classmethod
    def validated(cls, values: dict) -> Settings:
        """The settings `values` hold, or a SettingsError naming every bad one and what it accepts."""
        try:
            return cls(values)
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc, values)) from None

    def replace(self, **changes) -> Settings:
        """A validated copy with `changes` applied."""
        return type(self).validated({**self.as_dict(), **changes})

    def as_dict(self) -> dict:
        """Every setting by name."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def as_environment(self) -> dict[str, str]:
        """The settings as environment variables, for a child process (a worker) to load the same."""
        return {k: "" if v is None else str(v) for k, v in self.as_dict().items()}

    def public(self) -> dict:
        """The settings with every secret masked, fit to show or log."""
        return {k: ("••••" if k in SECRET_SETTINGS and v else v) for k, v in self.as_dict().items()}

    # The mapping protocol, for Flask's app.config.update() and `{**settings}`.
    def keys(self):
        return type(self).model_fields.keys()

    def __getitem__(self, name: str):
        if name not in type(self).model_fields:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default=None):
        return getattr(self, name) if name in type(self).model_fields else default

    def items(self):
        return self.as_dict().items()

    def __contains__(self, name: object) -> bool:
        return name in type(self).model_fields


def describe_errors(exc: ValidationError, values: dict) -> str:
    """One line per bad setting: its name, the value given (secrets masked) and what it accepts."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            lines.append(f"{name}: not a crisiscast setting{did_you_mean(name)}")
            continue
        given = "••••" if name in SECRET_SETTINGS else repr(values.get(name))
        lines.append(f"{name} = {given}: {error['msg'].removeprefix('Value error, ')}")
    return "Invalid settings:\n  " + "\n  ".join(lines)


def did_you_mean(name: str) -> str:
    """', did you mean X?' for the closest setting name, or ''."""
    close = difflib.get_close_matches(name, Settings.model_fields, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_in_environment(environ) -> list[str]:
    """Environment variables that look like settings (a known prefix) but are none: probably misspelt."""
    known = set(Settings.model_fields) | LAUNCHER_VARIABLES
    return sorted(k for k in environ if k.startswith(KNOWN_PREFIXES) and k not in known)
