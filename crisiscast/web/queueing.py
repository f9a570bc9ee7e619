"""The web side's handle on the job queue (through crisiscast.jobs, the only module that imports rq)."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from crisiscast import jobs
from crisiscast.sending import reconciler_health
from crisiscast.web import duration
from crisiscast.web.helpers import runtime, settings


def init_app(app) -> None:
    app.extensions["crisiscast.queue"] = None


def queue():
    """The RQ queue for this app, connected on first use."""
    ext = current_app.extensions
    if ext["crisiscast.queue"] is None:
        ext["crisiscast.queue"] = jobs.make_queue(settings())
    return ext["crisiscast.queue"]


def enqueue_delivery(delivery_id: int, channel: str = "") -> None:
    jobs.enqueue_delivery(queue(), delivery_id, channel)


def enqueue_staff_texts(ids: list[int]) -> bool:
    """Queue the job that sends these staff texts; False when the queue is unreachable (the worker's pass queues
    rows whose job was lost, so they still go out once it is back)."""
    try:
        jobs.enqueue_staff_texts(queue(), ids)
    except Exception:  # noqa: BLE001 - the rows are the outbox; the author is told the texts wait
        return False
    return True


def health() -> str:
    """'ok', or why the queue cannot be reached ('unreachable (ConnectionError)')."""
    try:
        queue().connection.ping()
    except Exception as exc:  # any failure here means the same to staff: the queue is not reachable
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def channel_health(channel: str) -> str:
    """'ok', 'degraded (paused N s)' while the circuit breaker holds the channel, or 'unknown'."""
    try:
        health = runtime().breaker().health(channel)
    except Exception:  # noqa: BLE001 - the dashboard must render whatever is down
        return "unknown"
    return f"degraded (paused {health.paused_for:.0f} s)" if health.state == "degraded" else health.state


@dataclass
class Recovery:
    """The reconciler's state for the dashboard: 'ok', 'warning' or 'down', and what that means in words."""

    state: str
    summary: str
    details: list[str] = field(default_factory=list)


def recovery(queue_health: str) -> Recovery:
    """Whether recovery (the reconciler in the workers) is running, from the heartbeat they keep in Redis."""
    if queue_health != "ok":
        return Recovery("down", "Not running: Redis cannot be reached, so no worker can recover stuck or in-doubt "
                                "sends or queue waiting ones. They wait, saved, until Redis is back.")
    every = settings().RECONCILE_SECONDS
    try:
        beat = reconciler_health.read(queue().connection, settings().QUEUE_NAME, every)
    except Exception as exc:  # noqa: BLE001 - the dashboard must render whatever is down
        return Recovery("down", f"Unknown: the reconciler's heartbeat could not be read from Redis "
                                f"({type(exc).__name__}).")
    failure = [f"Last failed pass {duration(beat.error_age)} ago: {beat.error[:300]}"] if beat.failing else []
    if not beat.running:
        return Recovery("down", _not_running(beat), failure)
    if beat.failing:
        return Recovery("warning", _last_pass(beat) + " The latest pass failed; the next one tries again.", failure)
    if beat.lookups_failed:
        lookups = f"{beat.lookups_failed} lookup{'s' if beat.lookups_failed > 1 else ''}"
        return Recovery("warning", f"{_last_pass(beat)} {lookups} at the provider failed in it: those sends stay in "
                        "doubt, never resent blindly, until a lookup answers.", beat.lookup_notes)
    return Recovery("ok", _last_pass(beat))


def _last_pass(beat) -> str:
    if beat.last_pass_age is None:
        return f"Starting: the first pass is due within {duration(beat.every)}."
    return f"Last pass {duration(beat.last_pass_age)} ago (one every {duration(beat.every)})."


def _not_running(beat) -> str:
    since = (f"no pass has finished for {duration(beat.last_pass_age)}" if beat.last_pass_age is not None
             else "no pass has ever been recorded")
    return (f"Not running: {since} (one is due every {duration(beat.every)}). Sends stuck or in doubt are not "
            "being recovered. Check that a worker is running (python worker.py) and read its log.")
