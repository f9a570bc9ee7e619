"""The composition root shared by the web app and the workers: settings, database, channels, retry policy,
and the per-process Redis client, circuit breaker and SMS throttle."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from redis import Redis

from crisiscast import logs
from crisiscast.channels import build_channels
from crisiscast.sending.breaker import Breaker
from crisiscast.sending.delivery import DeliveryContext, RetryPolicy
from crisiscast.sending.reconcile import LOOKUP_THREADS
from crisiscast.sending.redis_connections import client
from crisiscast.sending.throttle import Limits, Throttle
from crisiscast.services.reply_limit import ReplyLimit
from crisiscast.services.refusals import RefusalLog
from crisiscast.store.db import make_engine, session_factory


class Runtime:
    """Everything a use case needs, built once per process from settings; no Flask, no RQ."""

    def __init__(self, settings):
        logs.mask_numbers_in_records()  # the web app and the workers both start here
        self.settings = settings
        self.engine = make_engine(settings.DATABASE_URL)
        self.sessions = session_factory(self.engine)
        self.channels = build_channels(settings, self.sessions)
        self.retry_policy = RetryPolicy.from_settings(settings)
        self._built: dict[str, object] = {}
        # SMS batches run on several threads: each part is built once. Reentrant: a part's build asks for
        # another (the breaker and the throttle need the Redis client).
        self._lock = threading.RLock()

    def _once(self, name: str, build):
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    def sms_executor(self) -> ThreadPoolExecutor:
        """The thread pool SMS batches send on: SMS_WORKER_THREADS requests in flight per worker process."""
        return self._once("executor", lambda: ThreadPoolExecutor(self.settings.SMS_WORKER_THREADS,
                                                                 thread_name_prefix="sms"))

    def redis(self) -> Redis:
        """This process's Redis client for the breaker and the throttle (no connection until first used)."""
        return self._once("redis", lambda: client(self.settings.REDIS_URL))

    def reply_limit(self) -> ReplyLimit:
        """The per-number limit on replies to keywords (SMS_REPLY_LIMIT), shared through Redis."""
        return self._once("reply_limit", lambda: ReplyLimit.from_settings(self.redis(), self.settings))

    def delivery_context(self, **changes) -> DeliveryContext:
        """How deliveries are sent in this process: its sessions, channels and retry policy, the lease and SMS
        batch size of its settings; `changes` replace any of them (the jobs pass the shared breaker)."""
        return DeliveryContext(**{"sessions": self.sessions, "channels": self.channels, "policy": self.retry_policy,
                                  "lease": self.settings.CLAIM_LEASE_SECONDS,
                                  "sms_batch_size": self.settings.SMS_BATCH_SIZE, **changes})

    def breaker(self) -> Breaker:
        """The circuit breaker every worker shares through Redis; one per process, so its cache lasts."""
        s = self.settings
        return self._once("breaker", lambda: Breaker(
            self.redis(), s.BREAKER_THRESHOLD, s.BREAKER_COOLDOWN_SECONDS, s.BREAKER_MAX_COOLDOWN_SECONDS,
            namespace=f"crisiscast:{s.QUEUE_NAME}"))

    def refusals(self) -> RefusalLog:
        """Where refused requests are counted, to reach the audit log as one summary per source and minute."""
        return self._once("refusals", lambda: RefusalLog(self.redis(), f"crisiscast:{self.settings.QUEUE_NAME}"))

    def sms_throttle(self) -> Throttle:
        """The shared limits for this Twilio account and sender number; one per process, kept across jobs."""
        return self._once("throttle", self._build_throttle)

    def _build_throttle(self) -> Throttle:
        s = self.settings
        # A burst of 50 ms worth of messages: responses come back in clumps, and making each of them wait a few
        # microseconds for its exact turn costs a round trip to Redis apiece. At 1 msg/s the burst stays 1.
        # A connection for each thread that may call at once: the senders, the reconciler's lookups, the sweeper.
        # Through a Messaging Service the rate is the pool's (Twilio spreads the messages over its numbers).
        sender = s.TWILIO_MESSAGING_SERVICE_SID or s.TWILIO_FROM_NUMBER
        return Throttle(self.redis(), Limits(account=s.TWILIO_ACCOUNT_SID, sender=sender,
                        max_concurrency=s.SMS_MAX_CONCURRENCY, rate_per_second=s.SMS_SENDER_RATE),
                        burst=max(1, int(s.SMS_SENDER_RATE / 20)),
                        connections=s.SMS_WORKER_THREADS + LOOKUP_THREADS + 1)

    def prepare_channels(self) -> None:
        """Build every configured channel's SDK client now rather than on its first send."""
        for channel in self.channels.values():
            if not channel.missing_settings():
                channel.prepare()

    def secrets(self) -> tuple[str, ...]:
        """Every credential the channels hold, for scrubbing text before it is stored or shown."""
        return tuple(s for channel in self.channels.values() for s in channel.secrets() if s)

    def describe_channels(self) -> str:
        """Which channels are configured and where they send, without secrets: what the audit log keeps."""
        parts = []
        for name, channel in self.channels.items():
            missing = channel.missing_settings()
            if missing:
                parts.append(f"{name}: not configured (missing {', '.join(missing)})")
            else:
                parts.append(f"{name}: {channel.describe()}" + (f" via {channel.endpoint()}" if channel.endpoint() else ""))
        return "; ".join(parts)

    def close(self) -> None:
        """Let the SMS sends in flight finish, then close the connections this process holds."""
        built = self._built
        if "executor" in built:
            built["executor"].shutdown(wait=True)
        if "throttle" in built:
            built["throttle"].close()
        if "redis" in built:
            built["redis"].close()
        self.engine.dispose()
