"""The worker's check for overdue promised updates, beside the reconciler: one pass at a time across workers."""
from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import LockError
from rq import Queue

from crisiscast.jobs.tasks import enqueue_staff_texts
from crisiscast.services import promises

log = logging.getLogger(__name__)
# A killed worker's lock must not stop the reminders for long.
LOCK_SECONDS = 60


def remind_overdue(runtime, queue: Queue, now: datetime) -> list[int] | None:
    """One check at `now` (a parameter, so tests control the clock): claim, audit and text each reminder due;
    the staff texts queued, or None when another worker holds the lock right now."""
    lock = queue.connection.lock(f"crisiscast:{queue.name}:overdue", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return None
    try:
        with runtime.sessions() as session:
            ids = promises.remind(session, now, runtime.settings)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the overdue check's lock lapsed during a long pass")
    if ids:
        # Committed before this: if the queue is away, the worker sends them (send_waiting_staff_texts).
        enqueue_staff_texts(queue, ids)
    return ids
