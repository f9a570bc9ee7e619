"""The only bridge to RQ: enqueue deliveries and SMS batches, the job functions, the worker loop.

Job ids are derived from what they send (a delivery and its attempt, a batch's id range), so the
reconciler can tell whether a job is already queued before it queues one again.
"""
from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta, timezone

import redis
from redis import Redis
from redis.driver_info import DriverInfo
from redis.exceptions import LockError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from crisiscast.sending import reconciler_health, sms_fanout
from crisiscast.sending.breaker import Breaker
from crisiscast.sending.delivery import deliver
from crisiscast.sending.reconcile import LOOKUP_THREADS, QueuePort, Report, reconcile
from crisiscast.sending.throttle import Throttle
from crisiscast.store.models import Delivery, Update

log = logging.getLogger(__name__)

_runtime = None
# Infrastructure failures (database or Redis unreachable mid-job) are retried by RQ; provider errors are ours.
INFRA_RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])
SMS_JOB_TIMEOUT = 3600
JOB_TIMEOUT = 120
# A "started" job may belong to a worker that was killed: RQ notices that late, so it does not count as
# live. Running a job twice is safe (every send is claimed once); never running it is not.
LIVE = {"queued", "scheduled", "deferred"}
SCHEDULER_SLACK = 30
_throttles: dict[tuple, Throttle] = {}  # one per Redis server and sender: each keeps a few connections of its own


def install(runtime) -> None:
    """Use `runtime` for jobs run in this process (worker.py and the tests call this)."""
    global _runtime
    _runtime = runtime


def current_runtime():
    """The installed runtime, or one built from the environment's settings."""
    global _runtime
    if _runtime is None:
        import config
        from crisiscast.runtime import Runtime

        _runtime = Runtime(config.load())
    return _runtime


def redis_connection(settings) -> Redis:
    # The version given, not looked up: redis-py reads package metadata for every new connection otherwise.
    return Redis.from_url(settings["REDIS_URL"], socket_connect_timeout=2, socket_timeout=10,
                          driver_info=DriverInfo(lib_version=redis.__version__))


def make_queue(settings, connection: Redis | None = None) -> Queue:
    return Queue(settings["QUEUE_NAME"], connection=connection or redis_connection(settings))


def delivery_job_id(queue: Queue, delivery_id: int, attempts: int) -> str:
    return f"{_prefix(queue)}-delivery-{delivery_id}-a{attempts}"


def batch_job_id(queue: Queue, delivery_id: int, first_id: int, last_id: int) -> str:
    return f"{_prefix(queue)}-sms-{delivery_id}-{first_id}-{last_id}"


def _prefix(queue: Queue) -> str:
    # Job ids are global in Redis: the queue's name keeps two deployments sharing one Redis apart.
    return re.sub(r"[^A-Za-z0-9_-]", "_", queue.name)


def is_live(queue: Queue, job_id: str) -> bool:
    """True when a job with this id is waiting, or scheduled and not overdue (a dead scheduler moves nothing)."""
    try:
        status = Job.fetch(job_id, connection=queue.connection).get_status(refresh=False)
    except NoSuchJobError:
        return False
    if status == "scheduled":
        try:
            due = ScheduledJobRegistry(queue=queue).get_scheduled_time(job_id)
        except NoSuchJobError:
            return False
        return due > datetime.now(timezone.utc) - timedelta(seconds=SCHEDULER_SLACK)
    return status in LIVE


def enqueue_delivery(queue: Queue, delivery_id: int, channel: str = "", delay: float = 0.0,
                     attempts: int = 0) -> bool:
    """Queue the job that sends delivery `delivery_id` (after `attempts` tries so far), now or after `delay` s,
    unless that job is already waiting; True if queued."""
    job_id = delivery_job_id(queue, delivery_id, attempts)
    if is_live(queue, job_id):
        return False
    options = dict(job_timeout=SMS_JOB_TIMEOUT if channel == "sms" else JOB_TIMEOUT, retry=INFRA_RETRY,
                   job_id=job_id, description=f"deliver {channel or 'delivery'} #{delivery_id}")
    if delay >= 1:
        queue.enqueue_in(timedelta(seconds=delay), deliver_job, delivery_id, channel, **options)
    else:
        queue.enqueue(deliver_job, delivery_id, channel, **options)
    return True


def enqueue_batch(queue: Queue, delivery_id: int, first_id: int, last_id: int) -> bool:
    """Queue one SMS batch job, unless the same batch is already waiting; True if queued."""
    job_id = batch_job_id(queue, delivery_id, first_id, last_id)
    if is_live(queue, job_id):
        return False
    queue.enqueue(sms_batch_job, delivery_id, first_id, last_id, job_timeout=SMS_JOB_TIMEOUT, retry=INFRA_RETRY,
                  job_id=job_id, description=f"sms batch #{delivery_id} {first_id}-{last_id}")
    return True


def deliver_job(delivery_id: int, channel: str = "") -> None:
    """RQ job: send one delivery; schedule its next try, or queue its SMS batches, as the outcome asks."""
    runtime = current_runtime()
    settings = runtime.settings
    queue = _current_queue(runtime)
    outcome = deliver(runtime.sessions, runtime.channels, delivery_id, runtime.retry_policy,
                      int(settings["SMS_BATCH_SIZE"]), breaker(settings, queue), float(settings["CLAIM_LEASE_SECONDS"]))
    if outcome.retry_in is not None:
        enqueue_delivery(queue, delivery_id, channel, outcome.retry_in, outcome.attempts)
        log.info("delivery %s: next try in %.1fs", delivery_id, outcome.retry_in)
    for first_id, last_id in outcome.batches:
        enqueue_batch(queue, delivery_id, first_id, last_id)
    if outcome.batches:
        log.info("delivery %s: %d SMS batches queued", delivery_id, len(outcome.batches))


def sms_batch_job(delivery_id: int, first_id: int, last_id: int) -> None:
    """RQ job: send one batch of an SMS fan-out under the shared throttle and breaker."""
    runtime = current_runtime()
    with runtime.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        uid = session.get(Update, delivery.update_id).uid
        update_id, text = delivery.update_id, delivery.rendering["text"]
        later = [(first, last) for first, last in delivery.batches or () if first > last_id]
    settings = runtime.settings
    queue = _current_queue(runtime)
    channel = runtime.channels["sms"]
    throttle = sms_throttle(settings, queue)
    channel.use_gate(throttle)
    # Twice as many queued as threads, so a thread that finishes a send finds the next one waiting; fewer at
    # slow sender rates, where more would only wait in the throttle, claimed.
    window = sms_fanout.claim_window(int(settings["SMS_WORKER_THREADS"]), float(settings["SMS_SENDER_RATE"]))
    try:
        paused = sms_fanout.send_batch(runtime.sessions, channel, runtime.retry_policy, runtime.sms_executor(),
                                       window, delivery_id, update_id, uid, text, first_id, last_id,
                                       breaker(settings, queue), float(settings["CLAIM_LEASE_SECONDS"]), later)
    finally:
        throttle.flush()
    if paused:
        log.info("delivery %s batch %s-%s: SMS paused for %.0fs; the reconciler resumes it", delivery_id,
                 first_id, last_id, paused)


def sms_throttle(settings, queue: Queue) -> Throttle:
    """The shared limits for this Twilio account and sender number; one per process, kept across jobs.

    Keyed by the Redis URL, not by a client: a job's queue may come with a client of its own, and a throttle
    per client would keep connections for each.
    """
    rate = float(settings["SMS_SENDER_RATE"])
    key = (settings["REDIS_URL"], settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_FROM_NUMBER"],
           int(settings["SMS_MAX_CONCURRENCY"]), rate)
    if key not in _throttles:
        # A burst of 50 ms worth of messages: responses come back in clumps, and making each of them wait a few
        # microseconds for its exact turn costs a round trip to Redis apiece. At 1 msg/s the burst stays 1.
        # A connection for each thread that may call at once: the senders, the reconciler's lookups, the sweeper.
        _throttles[key] = Throttle(queue.connection, account=key[1], sender=key[2], max_concurrency=key[3],
                                   rate_per_second=rate, burst=max(1, int(rate / 20)),
                                   connections=int(settings["SMS_WORKER_THREADS"]) + LOOKUP_THREADS + 1)
    return _throttles[key]


def breaker(settings, queue: Queue) -> Breaker:
    """The circuit breaker every worker shares."""
    return Breaker(queue.connection, int(settings["BREAKER_THRESHOLD"]), float(settings["BREAKER_COOLDOWN_SECONDS"]),
                   float(settings["BREAKER_MAX_COOLDOWN_SECONDS"]), namespace=f"crisiscast:{settings['QUEUE_NAME']}")


class RQQueuePort(QueuePort):
    """The reconciler's view of our RQ queue."""

    def __init__(self, queue: Queue):
        self.queue = queue

    def enqueue_delivery(self, delivery_id: int, channel: str, attempts: int) -> bool:
        return enqueue_delivery(self.queue, delivery_id, channel, attempts=attempts)

    def enqueue_batch(self, delivery_id: int, first_id: int, last_id: int) -> bool:
        return enqueue_batch(self.queue, delivery_id, first_id, last_id)


def reconcile_once(runtime, queue: Queue) -> Report | None:
    """One reconciler pass, unless another worker holds the lock right now (then None)."""
    # A killed worker's lock must not stop reconciling for long: it lapses after a minute.
    lock = queue.connection.lock(f"crisiscast:{queue.name}:reconcile", timeout=reconciler_health.LOCK_SECONDS,
                                 blocking=False)
    if not lock.acquire():
        return None
    settings = runtime.settings
    try:
        reconciler_health.record_begin(queue.connection, queue.name)
        report = reconcile(runtime.sessions, runtime.channels, RQQueuePort(queue), breaker(settings, queue),
                           grace=float(settings["RECONCILE_GRACE_SECONDS"]))
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the reconciler's lock lapsed during a long pass")
    for note in report.notes:  # each with its reason: a failed lookup leaves its send in doubt
        log.warning("reconciler: %s", note)
    reconciler_health.record_pass(queue.connection, queue.name, report, float(settings["RECONCILE_SECONDS"]))
    return report


def _reconcile_forever(runtime, queue: Queue, every: float, stop: threading.Event) -> None:
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


def _record_heartbeat(queue: Queue, record, *args) -> None:
    """Write to the heartbeat if Redis lets us; when it does not, the console sees Redis down anyway."""
    try:
        record(queue.connection, queue.name, *args)
    except redis.RedisError as exc:
        log.warning("could not update the reconciler's heartbeat in Redis: %s", exc)


def _current_queue(runtime) -> Queue:
    from rq import get_current_job

    job = get_current_job()
    return Queue(job.origin, connection=job.connection) if job else make_queue(runtime.settings)


def run_worker(settings, burst: bool = False, name: str | None = None) -> None:
    """Work the queue in this process, with RQ's scheduler for delayed retries.

    A SimpleWorker runs jobs in-process: our jobs are few and long (one per channel per update, one per SMS
    batch), so a fork per job would buy little isolation for its cost and would share database connections
    across the fork.
    """
    from rq import SimpleWorker

    connection = redis_connection(settings)
    queue = make_queue(settings, connection)
    # Made before the reconciler's first use of the pool: RQ raises the pool's socket timeout above its
    # blocking dequeue here, and a connection opened earlier keeps the short one (the BLPOP then times out
    # and the worker quits).
    worker = SimpleWorker([queue], connection=connection, name=name)
    stop = threading.Event()
    reconciler = threading.Thread(target=_reconcile_forever, daemon=True, name="reconciler",
                                  args=(current_runtime(), queue, float(settings["RECONCILE_SECONDS"]), stop))
    reconciler.start()
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()
