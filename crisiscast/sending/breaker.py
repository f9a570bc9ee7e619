"""A circuit breaker per channel, shared by every worker through Redis.

After BREAKER_THRESHOLD failures in a row that say the provider is struggling (429, 5xx, no answer), the
channel is paused for a cooldown that doubles while trials keep failing (up to a maximum). While paused
nothing is sent and nothing is dropped: deliveries wait as pending and go out when a trial succeeds.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError


@dataclass(frozen=True)
class Health:
    """What the console shows for a channel."""

    state: str  # ok, degraded (paused), or unknown (Redis unreachable)
    failures: int = 0
    paused_for: float = 0.0


class Breaker:
    """Pause a channel after repeated provider failures; resume by itself after a successful trial."""

    def __init__(self, redis: Redis, threshold: int = 5, cooldown: float = 15.0, max_cooldown: float = 300.0,
                 namespace: str = "crisiscast", refresh: float = 0.5):
        self.redis = redis
        self.namespace = namespace
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        # Every send asks the breaker; Redis is asked at most every `refresh` seconds per channel.
        self.refresh = refresh
        self._seen: dict[str, tuple[float, float, int]] = {}
        self._lock = threading.Lock()

    def _key(self, channel: str) -> str:
        return f"{self.namespace}:breaker:{channel}"

    def _state(self, channel: str, fresh: bool = False) -> tuple[float, int]:
        """(open_until, failures) as Redis had them at most `refresh` seconds ago."""
        seen = self._seen.get(channel)
        if fresh or seen is None or time.monotonic() - seen[0] > self.refresh:
            open_until, failures = self.redis.hmget(self._key(channel), "open_until", "failures")
            seen = (time.monotonic(), float(open_until or 0), int(failures or 0))
            with self._lock:
                self._seen[channel] = seen
        return seen[1], seen[2]

    def wait_seconds(self, channel: str) -> float:
        """0 when a request may go now; else how long the channel stays paused."""
        try:
            open_until, _ = self._state(channel)
        except RedisError:
            return 0.0
        return max(0.0, open_until - time.time())

    def record(self, channel: str, ok: bool) -> None:
        """Count a success (closes the breaker) or a provider failure (may open it)."""
        key = self._key(channel)
        try:
            if ok:
                if self._state(channel)[1]:
                    self.redis.hset(key, mapping={"failures": 0, "open_until": 0, "cooldown": self.cooldown})
                    self._state(channel, fresh=True)
                return
            failures = self.redis.hincrby(key, "failures", 1)
            if failures >= self.threshold and self._state(channel, fresh=True)[0] <= time.time():
                cooldown = float(self.redis.hget(key, "cooldown") or self.cooldown)
                self.redis.hset(key, mapping={"open_until": time.time() + cooldown,
                                              "cooldown": min(self.max_cooldown, cooldown * 2)})
            self._state(channel, fresh=True)
        except RedisError:
            pass  # without Redis, nothing is sent anyway; the breaker is not what protects the provider then

    def health(self, channel: str) -> Health:
        try:
            open_until, failures = self._state(channel, fresh=True)
        except RedisError:
            return Health("unknown")
        wait = max(0.0, open_until - time.time())
        return Health("degraded" if wait > 0 else "ok", failures, wait)
