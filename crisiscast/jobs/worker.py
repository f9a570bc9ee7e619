"""The worker process: RQ's worker loop, and beside it on threads of their own the reconciler and the
applier of delivery receipts."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

import redis
from redis.exceptions import LockError
from rq import Queue

from crisiscast.jobs import overdue
from crisiscast.jobs.queue import make_queue, make_worker, redis_connection
from crisiscast.jobs.tasks import RQQueuePort, current_runtime
from crisiscast.sending import reconciler_health
from crisiscast.sending import staff_texts as staff_sending
from crisiscast.services import delivery_receipts, staff_texts
from crisiscast.store.models import utcnow
from crisiscast.sending.reconcile import Report, reconcile

log = logging.getLogger(__name__)


@contextmanager
def _alone(queue: Queue, name: str, timeout: float, whose: str):
    """True while this worker holds the lock `name` for a pass (no other worker runs one), False when another
    worker holds it; the lock lapses after `timeout` seconds should this worker die."""
    lock = queue.connection.lock(f"crisiscast:{queue.name}:{name}", timeout=timeout, blocking=False)
    if not lock.acquire():
        yield False
        return
    try:
        yield True
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("%s lock lapsed during a long pass", whose)


def reconcile_once(runtime, queue: Queue) -> Report | None:
    """One reconciler pass, unless another worker holds the lock right now (then None)."""
    settings = runtime.settings
    # A killed worker's lock must not stop reconciling for long: it lapses after a minute.
    with _alone(queue, "reconcile", reconciler_health.LOCK_SECONDS, "the reconciler's") as alone:
        if not alone:
            return None
        reconciler_health.record_begin(queue.connection, queue.name)
        report = reconcile(runtime.sessions, runtime.channels, RQQueuePort(queue), runtime.breaker(),
                           grace=settings.RECONCILE_GRACE_SECONDS)
    for note in report.notes:  # each with its reason: a failed lookup leaves its send in doubt
        log.warning("reconciler: %s", note)
    reconciler_health.record_pass(queue.connection, queue.name, report, settings.RECONCILE_SECONDS)
    return report


def reconcile_forever(runtime, queue: Queue, every: float, stop: threading.Event) -> None:
    """Run a reconciler pass every `every` seconds until `stop` is set; a failed pass is logged and recorded."""
    _record_heartbeat(queue, reconciler_health.record_start, every)
    while not stop.wait(every):
        try:
            report = reconcile_once(runtime, queue)
        except Exception as exc:  # noqa: BLE001 - Redis or the database away: try again next round, loudly
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("reconciler pass failed (%s); trying again in %.0fs", reason, every)
            _record_heartbeat(queue, reconciler_health.record_failure, reason)
            continue
        if report:
            log.info("reconciler: %s", report)
        summarise_refusals(runtime)
        check_overdue(runtime, queue)
        send_waiting_staff_texts(runtime)


def summarise_refusals(runtime) -> int:
    """Write the audit log's summaries of refused requests whose minute has closed; a failure waits for the
    next pass (the counts stay in Redis)."""
    try:
        return runtime.refusals().flush(runtime.sessions)
    except Exception as exc:  # noqa: BLE001 - Redis or the database away: the next pass tries again
        log.warning("could not write the summaries of refused requests: %s", exc)
        return 0


def check_overdue(runtime, queue: Queue) -> None:
    """Remind the on-call list of promised updates that are overdue; a failure waits for the next pass."""
    try:
        overdue.remind_overdue(runtime, queue, utcnow())
    except Exception as exc:  # noqa: BLE001 - Redis or the database away: the next pass tries again
        log.warning("could not check for overdue promised updates: %s", exc)


def send_waiting_staff_texts(runtime) -> int:
    """Send, from this periodic pass, the staff texts still waiting after the grace: their job was lost, or every
    worker is busy with a long fan-out (an approval request must not wait hours behind 100,000 texts). First
    settles those a dead worker left mid-send (in doubt, never resent). How many were sent; a failure waits for
    the next pass."""
    settings = runtime.settings
    try:
        staff_sending.settle_abandoned(runtime.sessions, settings.CLAIM_LEASE_SECONDS)
        with runtime.sessions() as session:
            ids = staff_texts.pending_ids(session, utcnow() - timedelta(seconds=settings.RECONCILE_GRACE_SECONDS))
        if not ids:
            return 0
        channel, throttle = runtime.channels["sms"], runtime.sms_throttle()
        channel.use_gate(throttle)  # the sender's one rate, shared with the fan-out: a staff text takes a turn
        try:
            return staff_sending.send_all(runtime.sessions, channel, ids).count("sent")
        finally:
            throttle.flush()
    except Exception as exc:  # noqa: BLE001 - Redis, the database or Twilio away: the next pass tries again
        log.warning("could not send the waiting staff texts: %s", exc)
        return 0


# A receipt reaches its row (and the update page) about this long after Twilio posted it.
RECEIPTS_EVERY = 1.0


def apply_receipts_forever(runtime, queue: Queue, stop: threading.Event) -> None:
    """Apply the status callbacks the web app kept, every RECEIPTS_EVERY seconds, until `stop` is set."""
    while not stop.wait(RECEIPTS_EVERY):
        apply_receipts(runtime, queue)


def apply_receipts(runtime, queue: Queue) -> int:
    """One pass of the receipts applier, unless another worker's is running; how many were applied. A failure
    waits for the next pass (the receipts stay kept, waiting)."""
    try:
        with _alone(queue, "receipts", 60, "the receipts applier's") as alone:
            return delivery_receipts.apply_waiting(runtime.sessions) if alone else 0
    except Exception as exc:  # noqa: BLE001 - Redis or the database away: the next pass tries again
        log.warning("could not apply delivery receipts: %s", exc)
        return 0


def _record_heartbeat(queue: Queue, record, *args) -> None:
    """Write to the heartbeat if Redis lets us; when it does not, the console sees Redis down anyway."""
    try:
        record(queue.connection, queue.name, *args)
    except redis.RedisError as exc:
        log.warning("could not update the reconciler's heartbeat in Redis: %s", exc)


def run_worker(settings, burst: bool = False, name: str | None = None) -> None:
    """Work the queue in this process, with RQ's scheduler for delayed retries.

    A SimpleWorker runs jobs in-process: our jobs are few and long (one per channel per update, one per SMS
    batch), so a fork per job would buy little isolation for its cost and would share database connections
    across the fork.
    """
    connection = redis_connection(settings)
    queue = make_queue(settings, connection)
    # Made before the reconciler's first use of the pool: RQ raises the pool's socket timeout above its
    # blocking dequeue here, and a connection opened earlier keeps the short one (the BLPOP then times out
    # and the worker quits).
    worker = make_worker([queue], connection, name=name)
    stop = threading.Event()
    reconciler = threading.Thread(target=reconcile_forever, daemon=True, name="reconciler",
                                  args=(current_runtime(), queue, settings.RECONCILE_SECONDS, stop))
    reconciler.start()
    threading.Thread(target=apply_receipts_forever, daemon=True, name="receipts",
                     args=(current_runtime(), queue, stop)).start()
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()
