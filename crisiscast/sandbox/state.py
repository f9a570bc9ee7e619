"""What the sandbox remembers: its settings (latency, concurrency, faults), in-flight counts, accepted requests."""
from __future__ import annotations

import itertools
import random
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field

PROVIDERS = ("twilio", "x", "graph", "bluesky") + ("mastodon",)
FAULT_KINDS = ("429", "500", "503", "timeout", "lost", "permanent")
BLUESKY_SETTINGS = {"bluesky_access_seconds": float, "bluesky_session_limit": int,
                    "bluesky_access_expired_before": float, "bluesky_refresh_expired_before": float}


@dataclass
class Credentials:
    """The credentials the sandbox accepts; the dev run and the tests configure the product with these."""

    twilio_account_sid: str = "AC" + "5a" * 16
    twilio_auth_token: str = "sandbox-twilio-token"
    # A Messaging Service and its sender pool: Twilio picks a pool number for each message sent through it.
    twilio_messaging_service_sid: str = "MG" + "5b" * 16
    twilio_sender_pool: tuple[str, ...] = ("+15005550006", "+15005550007", "+15005550008")
    x_consumer_key: str = "sandbox-x-consumer-key"
    graph_page_id: str = "1234567890"
    graph_page_token: str = "sandbox-page-token"
    bluesky_handle: str = "sandbox-hospital.bsky.social"
    bluesky_app_password: str = "sbox-hosp-pass-word"
    mastodon_token: str = "sandbox-mastodon-token"


@dataclass
class Settings:
    """Behaviour settable at start and at run time through POST /_sandbox/config."""

    latency_ms: float = 0.0
    concurrency: int = 0
    timeout_seconds: float = 30.0
    status_callbacks: bool = True
    status_delay_ms: float = 20.0
    queue_delay_ms: float = 0.0
    inbound_url: str = ""
    fault_rate: dict = field(default_factory=dict)
    fault_kinds: dict = field(default_factory=dict)
    script: dict = field(default_factory=lambda: defaultdict(list))
    # Bluesky: the access token's lifetime (about 2 hours at bsky.social), createSession calls allowed per 5 minutes,
    # and tokens issued before these times refused as expired (a PDS may end a session before its `exp`).
    bluesky_access_seconds: float = 7200.0
    bluesky_session_limit: int = 30
    bluesky_access_expired_before: float = 0.0
    bluesky_refresh_expired_before: float = 0.0
    mastodon_max_characters: int = 500

    def update(self, data: dict) -> None:
        """Merge a JSON object of settings; unknown keys or kinds raise ValueError."""
        for key, value in data.items():
            if key in ("latency_ms", "timeout_seconds", "status_delay_ms", "queue_delay_ms"):
                setattr(self, key, float(value))
            elif key == "status_callbacks":
                self.status_callbacks = bool(value)
            elif key == "inbound_url":
                self.inbound_url = str(value)
            elif key == "concurrency":
                self.concurrency = int(value)
            elif key in BLUESKY_SETTINGS:
                setattr(self, key, BLUESKY_SETTINGS[key](value))
            elif key == "mastodon_max_characters":
                self.mastodon_max_characters = int(value)
            elif key == "faults":
                for provider, spec in value.items():
                    _check_provider(provider)
                    kinds = list(spec.get("kinds") or ["429", "500", "503", "timeout"])
                    _check_kinds(kinds)
                    self.fault_rate[provider] = float(spec.get("rate", 0.0))
                    self.fault_kinds[provider] = kinds
            elif key == "script":
                for provider, outcomes in value.items():
                    _check_provider(provider)
                    _check_kinds([o for o in outcomes if o != "ok"])
                    self.script[provider] = list(outcomes)
            else:
                raise ValueError(f"unknown sandbox setting {key!r}")

    def to_dict(self) -> dict:
        return {"latency_ms": self.latency_ms, "concurrency": self.concurrency,
                "timeout_seconds": self.timeout_seconds, "status_callbacks": self.status_callbacks,
                "status_delay_ms": self.status_delay_ms, "queue_delay_ms": self.queue_delay_ms,
                "inbound_url": self.inbound_url, "mastodon_max_characters": self.mastodon_max_characters,
                "faults": {p: {"rate": self.fault_rate[p], "kinds": self.fault_kinds.get(p, [])}
                           for p in self.fault_rate},
                "script": {p: list(v) for p, v in self.script.items() if v},
                **{key: getattr(self, key) for key in BLUESKY_SETTINGS}}


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")


def _check_kinds(kinds) -> None:
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")


class State:
    """The whole sandbox: one per server, touched only from its event loop."""

    def __init__(self, settings: Settings | None = None, credentials: Credentials | None = None, seed=None):
        self.initial = (settings or Settings()).to_dict()
        self.settings = settings or Settings()
        self.credentials = credentials or Credentials()
        self.random = random.Random(seed)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.records: list[dict] = []
        self.counters: dict[str, int] = defaultdict(int)
        self.tasks: set = set()
        self.idempotency: dict[str, tuple[str, float]] = {}  # Mastodon's Idempotency-Key → (status id, until)
        self._ids = itertools.count(1)
        self.bluesky: dict = {"tokens": {}, "session_starts": []}

    def reset(self) -> None:
        """Forget every request and return to the start settings."""
        self.settings = Settings()
        self.settings.update(self.initial)
        self.in_flight = defaultdict(int)
        self.records.clear()
        self.counters.clear()
        self.bluesky = {"tokens": {}, "session_starts": []}
        self.idempotency.clear()

    def next_fault(self, provider: str) -> str | None:
        """The fault to inject into this request, if any: a scripted one first, then by rate."""
        script = self.settings.script.get(provider)
        if script:
            outcome = script.pop(0)
            return None if outcome == "ok" else outcome
        rate = self.settings.fault_rate.get(provider, 0.0)
        if rate and self.random.random() < rate:
            return self.random.choice(self.settings.fault_kinds[provider])
        return None

    def record(self, provider: str, kind: str, **fields) -> dict:
        """Remember an accepted request, as the recipient or reader would see it."""
        entry = {"seq": next(self._ids), "provider": provider, "kind": kind, "at": time.time(), **fields}
        self.records.append(entry)
        self.counters[f"{provider}.{kind}"] += 1
        return entry

    def snowflake(self) -> str:
        """A numeric id that grows with time, like X's and Graph's."""
        return str(((int(time.time() * 1000) - 1288834974657) << 22) | (next(self._ids) & 0x3FFFFF))

    def new_sequence(self) -> int:
        """The next number of this sandbox's one sequence (ids made from a time need it to stay distinct)."""
        return next(self._ids)

    def new_id(self, prefix: str = "", length: int = 32) -> str:
        return prefix + secrets.token_hex(length // 2)
