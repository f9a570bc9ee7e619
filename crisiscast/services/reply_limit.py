"""How many keyword replies one number gets: each reply is a billable text, and toll fraud floods for them.

Per number, within SMS_REPLY_WINDOW_SECONDS: at most SMS_REPLY_LIMIT replies, and never the same reply
twice in a row (30 JOINs in a burst get one confirmation). Kept in Redis, decided atomically by one script,
so concurrent webhooks from one number cannot both slip under the limit.
"""
from __future__ import annotations

import hashlib
import logging

from redis import Redis
from redis.exceptions import RedisError

from crisiscast.core import masking

log = logging.getLogger(__name__)

# KEYS: the number's reply count, its last reply's digest. ARGV: this reply's digest, limit, window seconds.
DECIDE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then return 0 end
local sent = tonumber(redis.call('GET', KEYS[1]) or '0')
if sent >= tonumber(ARGV[2]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
return 1
"""


class ReplyLimit:
    """Decides whether a reply to a number may be sent now; records it when it may."""

    def __init__(self, redis: Redis, limit: int, window: int, namespace: str = "crisiscast"):
        self.redis, self.limit, self.window, self.namespace = redis, limit, window, namespace
        self._decide = redis.register_script(DECIDE)

    @classmethod
    def from_settings(cls, redis: Redis, settings) -> ReplyLimit:
        """The limit SMS_REPLY_LIMIT and SMS_REPLY_WINDOW_SECONDS set, on `redis`, in the queue's namespace."""
        return cls(redis, settings.SMS_REPLY_LIMIT, settings.SMS_REPLY_WINDOW_SECONDS, settings.QUEUE_NAME)

    def allow(self, number: str, reply: str) -> bool:
        """True (and counted) when `reply` may go to `number`; False when it is over the limit or a repeat."""
        digest = hashlib.sha256(reply.encode()).hexdigest()[:32]
        # Keyed by a digest: Redis holds no phone number.
        who = hashlib.sha256(number.encode()).hexdigest()[:24]
        keys = [f"{self.namespace}:sms-replies:{who}", f"{self.namespace}:sms-last-reply:{who}"]
        try:
            return bool(self._decide(keys=keys, args=[digest, self.limit, self.window]))
        except RedisError as exc:
            # Without the count we cannot bound what a flood costs: no reply (the message itself still applies).
            log.warning("reply to %s not sent: reply limit unavailable (%s)", masking.mask_phone(number), exc)
            return False
