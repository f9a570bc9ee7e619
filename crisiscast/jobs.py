"""The only bridge to RQ: enqueue deliveries, and the job functions the workers run."""
from __future__ import annotations

import logging
from datetime import timedelta

from redis import Redis
from rq import Queue, Retry

from . import sms_fanout
from .delivery import deliver
from .throttle import Throttle

log = logging.getLogger(__name__)

_runtime = None
# Infrastructure failures (database or Redis unreachable mid-job) are retried by RQ; provider errors are ours.
INFRA_RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])
SMS_JOB_TIMEOUT = 3600
JOB_TIMEOUT = 120


def install(runtime) -> None:
    """Use `runtime` for jobs run in this process (worker.py and the tests call this)."""
    global _runtime
    _runtime = runtime


def current_runtime():
    """The installed runtime, or one built from the environment's settings."""
    global _runtime
    if _runtime is None:
        import config
        from .runtime import Runtime

        _runtime = Runtime(config.load())
    return _runtime


def redis_connection(settings) -> Redis:
    return Redis.from_url(settings["REDIS_URL"], socket_connect_timeout=2, socket_timeout=10)


def make_queue(settings, connection: Redis | None = None) -> Queue:
    return Queue(settings["QUEUE_NAME"], connection=connection or redis_connection(settings))


def enqueue_delivery(queue: Queue, delivery_id: int, channel: str = "", delay: float = 0.0) -> None:
    """Queue the job that sends delivery `delivery_id`, now or after `delay` seconds."""
    options = dict(job_timeout=SMS_JOB_TIMEOUT if channel == "sms" else JOB_TIMEOUT, retry=INFRA_RETRY,
                   description=f"deliver {channel or 'delivery'} #{delivery_id}")
    if delay >= 1:
        queue.enqueue_in(timedelta(seconds=delay), deliver_job, delivery_id, channel, **options)
    else:
        queue.enqueue(deliver_job, delivery_id, channel, **options)


def deliver_job(delivery_id: int, channel: str = "") -> None:
    """RQ job: send one delivery; schedule its next try, or queue its SMS batches, as the outcome asks."""
    runtime = current_runtime()
    outcome = deliver(runtime.sessions, runtime.channels, delivery_id, runtime.retry_policy,
                      int(runtime.settings["SMS_BATCH_SIZE"]))
    if outcome.retry_in is None and not outcome.batches:
        return
    queue = _current_queue(runtime)
    if outcome.retry_in is not None:
        enqueue_delivery(queue, delivery_id, channel, outcome.retry_in)
        log.info("delivery %s: retry in %.1fs", delivery_id, outcome.retry_in)
    for first_id, last_id in outcome.batches:
        queue.enqueue(sms_batch_job, delivery_id, first_id, last_id, job_timeout=SMS_JOB_TIMEOUT, retry=INFRA_RETRY,
                      description=f"sms batch #{delivery_id} {first_id}-{last_id}")
    if outcome.batches:
        log.info("delivery %s: %d SMS batches queued", delivery_id, len(outcome.batches))


def sms_batch_job(delivery_id: int, first_id: int, last_id: int) -> None:
    """RQ job: send one batch of an SMS fan-out under the shared throttle."""
    from .models import Delivery, Update

    runtime = current_runtime()
    with runtime.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        uid = session.get(Update, delivery.update_id).uid
        update_id, text = delivery.update_id, delivery.rendering["text"]
    settings = runtime.settings
    channel = runtime.channels["sms"]
    channel.use_gate(sms_throttle(settings, _current_queue(runtime)))
    # Twice as many queued as threads, so a thread that finishes a send finds the next one waiting.
    window = 2 * int(settings["SMS_WORKER_THREADS"])
    sms_fanout.send_batch(runtime.sessions, channel, runtime.retry_policy, runtime.sms_executor(), window,
                          delivery_id, update_id, uid, text, first_id, last_id)


def sms_throttle(settings, queue: Queue) -> Throttle:
    """The shared limits for this Twilio account and sender number."""
    rate = float(settings["SMS_SENDER_RATE"])
    # A burst of 50 ms worth of messages: responses come back in clumps, and making each of them wait a few
    # microseconds for its exact turn costs a round trip to Redis apiece. At 1 msg/s the burst stays 1.
    return Throttle(queue.connection, account=settings["TWILIO_ACCOUNT_SID"], sender=settings["TWILIO_FROM_NUMBER"],
                    max_concurrency=int(settings["SMS_MAX_CONCURRENCY"]), rate_per_second=rate,
                    burst=max(1, int(rate / 20)))


def _current_queue(runtime) -> Queue:
    from rq import get_current_job

    job = get_current_job()
    return Queue(job.origin, connection=job.connection) if job else make_queue(runtime.settings)


def run_worker(settings, burst: bool = False, name: str | None = None) -> None:
    """Work the queue in this process, with RQ's scheduler for delayed retries.

    A SimpleWorker runs jobs in-process: our jobs are few and long (one per channel per update), so a fork per
    job would buy little isolation for its cost and would share database connections across the fork.
    """
    from rq import SimpleWorker

    connection = redis_connection(settings)
    worker = SimpleWorker([make_queue(settings, connection)], connection=connection, name=name)
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
