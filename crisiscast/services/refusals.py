"""Refused requests (unsigned webhooks, failed sign-ins): logged one by one, counted in Redis per source and
minute, and kept in the audit log as one summary per source, kind and minute, so that an attacker cannot fill
the append-only log ("214 refused webhook requests from 203.0.113.9 in the minute from 05:41 UTC").

A window's summary is written once it has closed: by the next refused request (any source) or by the worker's
periodic pass, whichever comes first; taking the window off the pending set (ZREM answers 1 to one caller
only) is what makes it written at most once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from redis import Redis

from crisiscast.core.text import clean
from crisiscast.store import audit

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Long enough for a worker that was down an hour to write what piled up; short enough to bound the memory.
KEEP_SECONDS = 3600
# Distinct details (usernames tried, webhook paths and reasons) kept per window: enough to see what was tried.
MAX_DETAILS = 10
# What each kind becomes in the audit log: its action, the channel, and how its count reads.
KINDS = {"webhook": ("webhook_refused", "sms", "refused webhook request"),
         "sign_in": ("sign_in", None, "refused sign-in")}

_COUNT = """
redis.call('HINCRBY', KEYS[1], 'count', 1)
if ARGV[1] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
if ARGV[2] ~= '' and redis.call('SCARD', KEYS[2]) < tonumber(ARGV[3]) then redis.call('SADD', KEYS[2], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[6])
"""


@dataclass(frozen=True)
class Refusal:
    """One refused request: its kind (a KINDS key), the address it came from, what was tried, and a tag to count
    apart (e.g. "throttled": refused before the password was checked)."""

    kind: str
    source: str
    detail: str = ""
    tag: str = ""


class RefusalLog:
    """Counts refusals in Redis under `namespace` and writes the summaries of closed windows to the audit log."""

    def __init__(self, redis: Redis, namespace: str):
        self.redis = redis
        self.namespace = namespace
        self._count = redis.register_script(_COUNT)

    def record(self, refusal: Refusal, sessions, now: float | None = None) -> None:
        """Log `refusal`, count it, and write the summaries of windows that have closed. Never raises for Redis or
        the database: a refused request is answered with its 4xx whatever happens here."""
        log.warning("refused %s from %s: %r", refusal.kind, refusal.source or "unknown", refusal.detail[:120])
        now = time.time() if now is None else now
        try:
            self._add(refusal, now)
            self.flush(sessions, now)
        except Exception as exc:  # noqa: BLE001 - Redis or the database away: the log line above keeps it
            log.warning("refused %s from %s not counted for the audit log: %s", refusal.kind, refusal.source, exc)

    def _add(self, refusal: Refusal, now: float) -> None:
        minute = int(now // WINDOW_SECONDS)
        # Both come from the request: cleaned and cut so that the entry can always be stored (no NUL on PostgreSQL).
        member = f"{refusal.kind}|{minute}|{clean(refusal.source)[:64] or 'unknown'}"
        self._count(keys=[self._key(member), self._key(member) + ":details", self._pending()],
                    args=[refusal.tag, clean(refusal.detail)[:120], MAX_DETAILS, KEEP_SECONDS, minute, member])

    def flush(self, sessions, now: float | None = None) -> int:
        """Write one audit entry for each window that closed before `now`; return how many were written."""
        current = int((time.time() if now is None else now) // WINDOW_SECONDS)
        written = 0
        for raw in self.redis.zrangebyscore(self._pending(), "-inf", current - 1):
            member = raw.decode()
            if not self.redis.zrem(self._pending(), member):
                continue  # another process took this window
            try:
                written += self._write(member, sessions)
            except Exception:
                self.redis.zadd(self._pending(), {member: int(member.split("|")[1])})  # try again next time
                raise
        return written

    def _write(self, member: str, sessions) -> int:
        key = self._key(member)
        counts = {k.decode(): int(v) for k, v in self.redis.hgetall(key).items()}
        details = sorted(d.decode() for d in self.redis.smembers(key + ":details"))
        if not counts.get("count"):
            return 0  # lapsed (KEEP_SECONDS) before anyone wrote it
        kind, minute, source = member.split("|", 2)
        action, channel, noun = KINDS[kind]
        with sessions() as session:
            audit.record(session, actor=audit.SYSTEM, action=action, outcome="refused", channel=channel,
                         target=source, message=summary(noun, source, int(minute), counts, details))
            session.commit()
        self.redis.delete(key, key + ":details")
        return 1

    def _key(self, member: str) -> str:
        return f"{self.namespace}:refused:{member}"

    def _pending(self) -> str:
        return f"{self.namespace}:refused:pending"


def summary(noun: str, source: str, minute: int, counts: dict[str, int], details: list[str]) -> str:
    """'214 refused webhook requests from 203.0.113.9 in the minute from 05:41 UTC (…); tried: …'."""
    start = datetime.fromtimestamp(minute * WINDOW_SECONDS, timezone.utc).strftime("%Y-%m-%d %H:%M")
    tags = ", ".join(f"{n} {tag}" for tag, n in sorted(counts.items()) if tag != "count")
    count = counts["count"]
    text = f"{count} {noun}{'' if count == 1 else 's'} from {source} in the minute from {start} UTC" \
        + (f" ({tags})" if tags else "")
    return text + (f"; tried: {', '.join(details)}" if details else "")
