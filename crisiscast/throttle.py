"""Limits on sending that hold across every worker and host, kept in Redis.

- A cap on concurrent requests to the provider per account (Twilio answers 429, error 20429, past it).
  Slots are leases, so a worker killed while holding some gives them back when the lease runs out.
- A rate limit per sender number (messages per second), as a GCRA token bucket on Redis's own clock.
One script takes both in one round trip; a slot is only taken when the rate allows the message. The same
round trip gives back the slots of requests that finished since, so a message costs one call to Redis, not
two, on a connection of the calling thread's own (the pooled client's bookkeeping costs more than the call).
"""
from __future__ import annotations

import itertools
import secrets
import threading
import time
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import ConnectionError, NoScriptError, RedisError, TimeoutError

from .channels import Unavailable

ACQUIRE = """
if #ARGV > 5 then redis.call('ZREM', KEYS[2], unpack(ARGV, 6)) end
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
# How long a finished request's slot may stay taken when no other request comes along to give it back.
LINGER_SECONDS = 0.05
# How often a request waiting for the full cap asks again when none of this process's requests finishes.
CAP_POLL_SECONDS = 0.05


class Throttle:
    """Admit one provider request at a time under the shared concurrency cap and sender rate."""

    def __init__(self, redis: Redis, account: str, sender: str, max_concurrency: int, rate_per_second: float,
                 burst: int = 1, lease_seconds: float = 60.0, linger_seconds: float = LINGER_SECONDS):
        self.redis = redis
        self.slots_key = f"crisiscast:throttle:slots:{account}"
        self.rate_key = f"crisiscast:throttle:rate:{sender}"
        self.max_concurrency = max(1, int(max_concurrency))
        self.interval_us = int(1_000_000 / rate_per_second)
        self.tau_us = self.interval_us * max(0, burst - 1)
        self.lease_ms = int(lease_seconds * 1000)
        self.linger_seconds = linger_seconds
        self._script = redis.register_script(ACQUIRE)
        self._local = threading.local()
        self._finished: list[str] = []  # slots whose request is over, given back by the next call to Redis
        self._finished_lock = threading.Lock()
        self._slot_freed = threading.Condition(self._finished_lock)
        self._sweeper: threading.Thread | None = None
        self._prefix = secrets.token_hex(8) + ":"  # tokens only need to be unique: this process's + a count
        self._count = itertools.count()

    @contextmanager
    def slot(self):
        """Hold one request slot for the duration of the block, waiting for the rate and the cap as needed."""
        token = f"{self._prefix}{next(self._count)}"
        while True:
            try:
                verdict, wait_us = self._acquire(token)
            except RedisError as exc:
                # Without the shared limits nothing may go out; nothing has gone out yet.
                raise Unavailable(f"the shared SMS throttle is unreachable ({type(exc).__name__})",
                                  code="throttle_unavailable") from exc
            if verdict == 0:
                break
            if verdict == 1:
                time.sleep(wait_us / 1_000_000)
                continue
            # The cap is full. Polling would flood Redis with many threads waiting; instead wait for one of
            # this process's requests to finish (its slot goes back with our next try), or CAP_POLL_SECONDS
            # for another process to free one.
            with self._slot_freed:
                if not self._finished:
                    self._slot_freed.wait(CAP_POLL_SECONDS)
        try:
            yield
        finally:
            with self._slot_freed:
                self._finished.append(token)
                self._slot_freed.notify()
                if self._sweeper is None:
                    self._sweeper = threading.Thread(target=self._sweep, name="throttle-sweeper", daemon=True)
                    self._sweeper.start()

    def flush(self) -> None:
        """Give back every finished request's slot now: call it when no more requests follow at once."""
        finished = self._take_finished()
        if finished:
            try:
                self._call("ZREM", self.slots_key, *finished)
            except RedisError:
                pass  # the lease frees them

    def in_use(self) -> int:
        """Slots held right now, including finished ones not yet given back."""
        return self.redis.zcard(self.slots_key)

    def _acquire(self, token: str) -> list:
        finished = self._take_finished()  # if this call fails they stay taken until their lease runs out
        args = ("2", self.rate_key, self.slots_key, self.interval_us, self.tau_us, self.max_concurrency,
                self.lease_ms, token, *finished)
        try:
            return self._call("EVALSHA", self._script.sha, *args)
        except NoScriptError:  # a new Redis server: load the script and ask again
            self._call("SCRIPT", "LOAD", ACQUIRE)
            return self._call("EVALSHA", self._script.sha, *args)

    def _sweep(self) -> None:
        """Give back slots no acquire took along within linger_seconds; end after a second with none."""
        idle_rounds = 0
        while True:
            time.sleep(self.linger_seconds)
            with self._finished_lock:
                idle_rounds = 0 if self._finished else idle_rounds + 1
                if idle_rounds * self.linger_seconds >= 1.0:
                    self._sweeper = None  # the next finished request starts another
                    return
            self.flush()

    def _take_finished(self) -> list[str]:
        with self._finished_lock:
            finished, self._finished = self._finished, []
        return finished

    def _call(self, *args):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.redis.connection_pool.make_connection()
        try:
            connection.send_command(*args)
            return connection.read_response()
        except (ConnectionError, TimeoutError, OSError):
            connection.disconnect()  # the next call connects afresh
            raise
