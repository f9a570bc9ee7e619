"""Limits on sending that hold across every worker and host, kept in Redis.

- A cap on concurrent requests to the provider per account (Twilio answers 429, error 20429, past it).
  Slots are leases, so a worker killed while holding some gives them back when the lease runs out.
- A rate limit per sender (Twilio's MPS: message segments per second, for a number or a Messaging Service's
  whole pool), as a GCRA token bucket on Redis's own clock. A text of n segments costs n turns.

One script does all of it in one round trip. A process keeps what it was granted close at hand, so that
most messages need no round trip at all: a slot whose request finished is kept (still counted in Redis)
for the process's next request, and given back once idle for `linger_seconds`; when the sender's burst
allows several messages, one call reserves up to CREDIT_BATCH of them, each to be used within the burst
window or dropped. Every wait on Redis is a thread giving up the interpreter and waiting to get it back,
which at fan-out rates costs more than the call itself.

The throttle talks to Redis on connections of its own (crisiscast.sending.redis_connections), never the caller's
client pool: the job queue and the reconciler's lock use that one, and must never find it run dry. Threads
that come and go (lookups, the sweeper) reuse those connections rather than add any.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import NoScriptError, RedisError

from crisiscast.channels import Unavailable
from crisiscast.sending.redis_connections import Connections

# KEYS: 1 the sender's theoretical arrival time (µs), 2 the account's slots (token -> ms of its last renewal).
# ARGV: 1 interval µs, 2 tau µs, 3 cap, 4 lease ms, 5 messages wanted, 6 a slot's token ('' for none),
# 7 '1' when that is a slot this process holds already (it is renewed, or taken anew if this server does
# not know it: Redis was replaced), 8 how many tokens follow to give back, 9 the fewest turns a grant may
# hold (a text's segments: granted whole, as a GCRA of cost n, even past the burst), then the tokens to give
# back, then tokens whose lease to renew. Returns {turns granted, 1 if the slot is ours, wait}: wait is µs
# until the rate allows one, or -1 when the cap is full. A refusal takes nothing: neither the rate nor a slot.
ADMIT = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local lease = tonumber(ARGV[4])
local back = tonumber(ARGV[8])
if back > 0 then redis.call('ZREM', KEYS[2], unpack(ARGV, 10, 9 + back)) end
if #ARGV >= 10 + back then
  for i = 10 + back, #ARGV do redis.call('ZADD', KEYS[2], 'XX', now_ms, ARGV[i]) end
  redis.call('PEXPIRE', KEYS[2], lease)
end
local wanted = tonumber(ARGV[5])
local granted = 0
if wanted > 0 then
  local interval, tau = tonumber(ARGV[1]), tonumber(ARGV[2])
  local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
  if tat < now_us then tat = now_us end
  if tat - now_us > tau then return {0, 0, tat - now_us - tau} end
  granted = math.max(tonumber(ARGV[9]), math.min(wanted, math.floor((tau - (tat - now_us)) / interval) + 1))
end
local slot = 0
if ARGV[6] ~= '' then
  if not (ARGV[7] == '1' and redis.call('ZSCORE', KEYS[2], ARGV[6])) then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - lease)
    if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, 0, -1} end
  end
  redis.call('ZADD', KEYS[2], now_ms, ARGV[6])
  redis.call('PEXPIRE', KEYS[2], lease)
  slot = 1
end
if granted > 0 then
  local interval = tonumber(ARGV[1])
  local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
  if tat < now_us then tat = now_us end
  tat = tat + granted * interval
  redis.call('SET', KEYS[1], tat, 'PX', math.floor((tat - now_us) / 1000) + 1000)
end
return {granted, slot, 0}
"""
# How long a finished request's slot stays with this process when no request of its own takes it.
LINGER_SECONDS = 0.05
# How often a request waiting for the full cap asks again when none of this process's requests finishes.
CAP_POLL_SECONDS = 0.05
# At most this many messages reserved in one call, and never more than the sender's burst.
CREDIT_BATCH = 16
# Idle connections kept by default: about one per thread that calls at once.
CONNECTIONS = 16


@dataclass(frozen=True)
class Limits:
    """What a provider allows: `max_concurrency` requests at once per account, `rate_per_second` per sender."""

    account: str
    sender: str
    max_concurrency: int
    rate_per_second: float


class Throttle:
    """Admit one provider request at a time under the shared concurrency cap and sender rate."""

    def __init__(self, redis: Redis, limits: Limits, burst: int = 1, lease_seconds: float = 60.0,
                 linger_seconds: float = LINGER_SECONDS, connections: int = CONNECTIONS):
        account, sender = limits.account, limits.sender
        max_concurrency, rate_per_second = limits.max_concurrency, limits.rate_per_second
        self._prefix = secrets.token_hex(8) + ":"  # tokens only need to be unique: this process's + a count
        # How CLIENT LIST shows this throttle's connections: which process, which throttle.
        self.client_name = f"crisiscast-throttle-{os.getpid()}-{self._prefix[:6]}"
        self._connections = Connections(redis, connections, self.client_name)
        self.slots_key = f"crisiscast:throttle:slots:{account}"
        self.rate_key = f"crisiscast:throttle:rate:{sender}"
        self.max_concurrency = max(1, int(max_concurrency))
        self.interval_us = int(1_000_000 / rate_per_second)
        self.tau_us = self.interval_us * max(0, burst - 1)
        self.lease_ms = int(lease_seconds * 1000)
        self.linger_seconds = linger_seconds
        self._batch = min(CREDIT_BATCH, max(1, int(burst)))
        # A reserved message not sent within the burst window is dropped: kept longer, it could join a
        # later burst and exceed the rate.
        self._credit_seconds = min(linger_seconds, self.tau_us / 1_000_000)
        self._sha = hashlib.sha1(ADMIT.encode()).hexdigest()
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._credits: deque[float] = deque()  # when each reserved, unsent message must be sent by
        self._spare: list[tuple[str, float]] = []  # finished requests' slots, and since when they are idle
        self._held: dict[str, float] = {}  # every slot this process holds -> when its lease was renewed
        self._generation = 0  # bumped when Redis may have lost our slots: those are then not reused
        self._sweeper: threading.Thread | None = None
        self._count = itertools.count()

    def close(self) -> None:
        """Close the connections this throttle keeps idle."""
        self._connections.close()

    @contextmanager
    def slot(self, message: bool = True, segments: int = 1):
        """Hold one request slot for the duration of the block, waiting for the rate and the cap as needed.

        A message takes `segments` turns of the sender's rate (Twilio counts segments per second). A request
        that sends no message (a lookup) waits for the cap only.
        """
        token, generation = self._admit(max(1, int(segments)) if message else 0)
        try:
            yield
        finally:
            with self._slot_freed:
                if generation == self._generation:
                    self._spare.append((token, time.monotonic()))
                    self._slot_freed.notify()
                else:
                    self._held.pop(token, None)
                self._start_sweeper()

    def flush(self) -> None:
        """Give back every idle slot now: call it when no more requests follow at once."""
        with self._lock:
            idle = [token for token, _ in self._spare]
            self._spare.clear()
            for token in idle:
                self._held.pop(token, None)
        if idle:
            try:
                self._run(0, "", False, idle, [])
            except RedisError:
                pass  # the lease frees them

    def in_use(self) -> int:
        """Slots held right now across all processes, including idle ones not yet given back."""
        return self._connections.call("ZCARD", self.slots_key)

    def connections(self) -> int:
        """Connections to Redis this throttle holds right now, idle or in a call."""
        return self._connections.open()

    def _admit(self, cost: int) -> tuple[str, int]:
        """A slot, and `cost` turns of the sender's rate (none for a lookup): (its token, its generation)."""
        message = cost > 0
        while True:
            with self._lock:
                credit = self._take_credit(cost) if message else None
                token = self._spare.pop()[0] if self._spare else None
                generation = self._generation
            if (credit or not message) and token is not None:
                return token, generation
            # A kept slot goes along whenever we ask anyway: Redis renews it, or, replaced since, takes it anew.
            ask = token if token is not None else f"{self._prefix}{next(self._count)}"
            try:
                # As many texts' turns as for one-segment texts (the script holds it to the burst), so a long text
                # needs no more round trips per message than a short one.
                granted, slot, wait_us = self._run(self._batch * cost if message and not credit else 0,
                                                   ask, token is not None, [], [], need=cost)
            except RedisError as exc:
                self._forget(token)
                # Without the shared limits nothing may go out; nothing has gone out yet.
                raise Unavailable(f"the shared SMS throttle is unreachable ({type(exc).__name__})",
                                  code="throttle_unavailable") from exc
            now = time.monotonic()
            with self._slot_freed:
                generation = self._generation
                if slot:
                    token = ask
                    self._held[token] = now
                elif wait_us < 0 and token is not None:  # ours no longer: Redis was replaced, and it is full
                    self._held.pop(token, None)
                    token = None
                if granted:  # at least `cost`: the script grants a text's segments whole
                    self._credits.extend([now + self._credit_seconds] * (granted - cost))
                    credit = now + self._credit_seconds
                if (credit or not message) and token is not None:
                    return token, generation
                if token is not None:  # the rate said wait: the slot waits among the spares meanwhile
                    self._spare.append((token, now))
                if credit:
                    self._credits.extendleft([credit] * cost)
                if wait_us < 0 and not self._spare:
                    # The cap is full: wait for one of this process's requests to finish, or CAP_POLL_SECONDS
                    # for another process to free a slot, rather than every thread polling Redis.
                    self._slot_freed.wait(CAP_POLL_SECONDS)
            if wait_us > 0:
                time.sleep(wait_us / 1_000_000)

    def _take_credit(self, cost: int = 1) -> float | None:
        """`cost` reserved turns still within their window (when they must be used by), taken together or not at
        all; turns that expired are dropped."""
        now = time.monotonic()
        while self._credits and self._credits[0] < now:
            self._credits.popleft()
        if len(self._credits) < cost:
            return None
        taken = [self._credits.popleft() for _ in range(cost)]
        return min(taken)

    def _forget(self, token: str | None) -> None:
        """Redis failed us: it may have lost our slots, so none is reused; their leases free them."""
        with self._lock:
            self._generation += 1
            for spare, _ in self._spare:
                self._held.pop(spare, None)
            self._spare.clear()
            self._credits.clear()
            if token is not None:
                self._held.pop(token, None)

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="throttle-sweeper", daemon=True)
            self._sweeper.start()

    def _sweep(self) -> None:
        """Give back slots idle for linger_seconds and renew the leases of those held; end when none are."""
        while True:
            time.sleep(self.linger_seconds)
            now = time.monotonic()
            with self._lock:
                idle = [token for token, since in self._spare if now - since >= self.linger_seconds]
                self._spare = [(token, since) for token, since in self._spare if now - since < self.linger_seconds]
                for token in idle:
                    self._held.pop(token, None)
                due = [token for token, renewed in self._held.items() if now - renewed > self.lease_ms / 3000]
                for token in due:
                    self._held[token] = now
                if not self._held and not idle:
                    self._sweeper = None  # the next finished request starts another
                    return
            if idle or due:
                try:
                    self._run(0, "", False, idle, due)
                except RedisError:
                    self._forget(None)

    def _run(self, wanted: int, token: str, held: bool, give_back: list[str], renew: list[str],
             need: int = 1) -> list:
        args = ("2", self.rate_key, self.slots_key, self.interval_us, self.tau_us, self.max_concurrency,
                self.lease_ms, wanted, token, "1" if held else "0", len(give_back), max(1, need),
                *give_back, *renew)
        call = self._connections.call
        try:
            return call("EVALSHA", self._sha, *args)
        except NoScriptError:  # a new Redis server, which knows none of our slots: reuse none of them
            self._forget(None)
            call("SCRIPT", "LOAD", ADMIT)
            return call("EVALSHA", self._sha, *args)
