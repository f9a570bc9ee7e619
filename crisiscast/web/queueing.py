"""The web side's handle on the job queue (through crisiscast.jobs, the only module that imports rq)."""
from __future__ import annotations

from flask import current_app

from .. import jobs


def init_app(app) -> None:
    app.extensions["crisiscast.queue"] = None


def queue():
    """The RQ queue for this app, connected on first use."""
    ext = current_app.extensions
    if ext["crisiscast.queue"] is None:
        ext["crisiscast.queue"] = jobs.make_queue(current_app.config)
    return ext["crisiscast.queue"]


def enqueue_delivery(delivery_id: int, channel: str = "") -> None:
    jobs.enqueue_delivery(queue(), delivery_id, channel)


def health() -> str:
    """'ok', or why the queue cannot be reached."""
    try:
        queue().connection.ping()
    except Exception as exc:  # any failure here means the same to staff: the queue is not reachable
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def channel_health(channel: str) -> str:
    """'ok', 'degraded (paused N s)' while the circuit breaker holds the channel, or 'unknown'."""
    try:
        health = jobs.breaker(current_app.config, queue()).health(channel)
    except Exception:  # noqa: BLE001 - the dashboard must render whatever is down
        return "unknown"
    return f"degraded (paused {health.paused_for:.0f} s)" if health.state == "degraded" else health.state
