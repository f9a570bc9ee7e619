"""The reconciler's heartbeat, kept in Redis so the console can tell staff whether recovery is running.

Workers write it (crisiscast.jobs); the web app reads it. Every time in it is Redis's own clock (TIME), so
workers and web servers on hosts whose clocks disagree still agree on how old a pass is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

MISSED_PASSES = 3  # passes missed in a row before recovery counts as stopped
LOCK_SECONDS = 60  # how long one pass may hold the reconciler's lock (crisiscast.jobs)
MAX_NOTES = 5


def key(queue_name: str) -> str:
    """The Redis hash holding the heartbeat of the workers of queue `queue_name`."""
    return f"crisiscast:{queue_name}:reconciler"


def record_start(redis, queue_name: str, every: float) -> None:
    """A worker's reconciler thread started: its first pass is due within `every` seconds."""
    redis.hset(key(queue_name), mapping={"started": _now(redis), "every": every})


def record_begin(redis, queue_name: str) -> None:
    """A pass took the lock and began (a pass with many lookups can run for a while)."""
    redis.hset(key(queue_name), "began", _now(redis))


def record_pass(redis, queue_name: str, report, every: float) -> None:
    """A pass finished: when, and the lookups that failed in it (with their reasons)."""
    failures = [n for n in report.notes if "lookup failed" in n]
    redis.hset(key(queue_name), mapping={"last_pass": _now(redis), "every": every,
                                        "lookups_failed": report.lookup_failed,
                                        "lookup_notes": json.dumps(failures[:MAX_NOTES])})


def record_failure(redis, queue_name: str, reason: str) -> None:
    """A pass failed outright (the database or Redis away, a bug): why and when."""
    redis.hset(key(queue_name), mapping={"error": reason, "error_at": _now(redis)})


@dataclass
class Heartbeat:
    """Ages in seconds (None: never happened) and what the last pass and the last failure said."""

    every: float
    last_pass_age: float | None = None
    began_age: float | None = None
    started_age: float | None = None
    error: str = ""
    error_age: float | None = None
    lookups_failed: int = 0
    lookup_notes: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """A pass finished recently, one is under way, or the first is not yet overdue."""
        allowed = MISSED_PASSES * self.every
        if _within(self.last_pass_age, allowed):
            return True
        under_way = _newer(self.began_age, self.last_pass_age) and _newer(self.began_age, self.error_age)
        if under_way and _within(self.began_age, LOCK_SECONDS + self.every):
            return True
        return _newer(self.started_age, self.last_pass_age) and _within(self.started_age, allowed)

    @property
    def failing(self) -> bool:
        """The latest pass failed outright."""
        return self.error_age is not None and _newer(self.error_age, self.last_pass_age)


def read(redis, queue_name: str, every: float) -> Heartbeat:
    """The heartbeat as the workers left it; `every` is used until a worker has said its own interval."""
    raw = {k.decode(): v.decode() for k, v in redis.hgetall(key(queue_name)).items()}
    now = _now(redis)

    def age(name):
        return max(0.0, now - float(raw[name])) if raw.get(name) else None

    return Heartbeat(every=float(raw.get("every") or every), last_pass_age=age("last_pass"),
                     began_age=age("began"), started_age=age("started"), error=raw.get("error", ""),
                     error_age=age("error_at"), lookups_failed=int(raw.get("lookups_failed") or 0),
                     lookup_notes=json.loads(raw.get("lookup_notes") or "[]"))


def _now(redis) -> float:
    seconds, microseconds = redis.time()
    return seconds + microseconds / 1_000_000


def _within(age: float | None, limit: float) -> bool:
    return age is not None and age <= limit


def _newer(age: float | None, than: float | None) -> bool:
    """Whether the event `age` seconds ago came after the one `than` seconds ago (None: never)."""
    return age is not None and (than is None or age < than)
