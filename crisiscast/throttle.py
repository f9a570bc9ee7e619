"""Limits on sending that hold across every worker and host, kept in Redis.

- A cap on concurrent requests to the provider per account (Twilio answers 429, error 20429, past it).
  Slots are leases, so a worker killed while holding some gives them back when the lease runs out.
- A rate limit per sender number (messages per second), as a GCRA token bucket on Redis's own clock.
One script takes both in one round trip; a slot is only taken when the rate allows the message.
"""
from __future__ import annotations

import secrets
import time
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

from .channels import Unavailable

ACQUIRE = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end
if tat - now_us > tau then return {1, tat - now_us - tau} end
local now_ms = math.floor(now_us / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - tonumber(ARGV[4]))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2, 0} end
redis.call('ZADD', KEYS[2], now_ms, ARGV[5])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('SET', KEYS[1], tat + interval, 'PX', math.floor((tat + interval - now_us) / 1000) + 1000)
return {0, 0}
"""


class Throttle:
    """Admit one provider request at a time under the shared concurrency cap and sender rate."""

    def __init__(self, redis: Redis, account: str, sender: str, max_concurrency: int, rate_per_second: float,
                 burst: int = 1, lease_seconds: float = 60.0):
        self.redis = redis
        self.slots_key = f"crisiscast:throttle:slots:{account}"
        self.rate_key = f"crisiscast:throttle:rate:{sender}"
        self.max_concurrency = max(1, int(max_concurrency))
        self.interval_us = int(1_000_000 / rate_per_second)
        self.tau_us = self.interval_us * max(0, burst - 1)
        self.lease_ms = int(lease_seconds * 1000)
        self._acquire = redis.register_script(ACQUIRE)

    @contextmanager
    def slot(self):
        """Hold one request slot for the duration of the block, waiting for the rate and the cap as needed."""
        token = secrets.token_hex(8)
        while True:
            try:
                verdict, wait_us = self._acquire(keys=[self.rate_key, self.slots_key],
                                                 args=[self.interval_us, self.tau_us, self.max_concurrency,
                                                       self.lease_ms, token])
            except RedisError as exc:
                # Without the shared limits nothing may go out; nothing has gone out yet.
                raise Unavailable(f"the shared SMS throttle is unreachable ({type(exc).__name__})",
                                  code="throttle_unavailable") from exc
            if verdict == 0:
                break
            pause = wait_us / 1_000_000 if verdict == 1 else 0.002
            time.sleep(pause)
        try:
            yield
        finally:
            try:
                self.redis.zrem(self.slots_key, token)
            except RedisError:
                pass  # the request went out and its answer must not be lost; the lease frees the slot

    def in_use(self) -> int:
        return self.redis.zcard(self.slots_key)
