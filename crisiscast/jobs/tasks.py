"""The job functions RQ runs, the functions that queue them, and the reconciler's handle on the queue.

RQ stores a job's function by its dotted path (crisiscast.jobs.tasks.deliver_job); crisiscast.jobs keeps
the older paths importable for jobs queued before the split.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import Queue, Retry

from crisiscast.core.textlimits import count_sms
from crisiscast.jobs.queue import batch_job_id, current_queue, delivery_job_id, is_live, staff_texts_job_id
from crisiscast.sending import confirmations, sms_fanout, staff_texts
from crisiscast.sending.delivery import deliver
from crisiscast.sending.reconcile import QueuePort
from crisiscast.store.models import Delivery, Update

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
    """The installed runtime, or one built from the environment's settings: one per process."""
    global _runtime
    if _runtime is None:
        import config
        from crisiscast.runtime import Runtime

        _runtime = Runtime(config.load())
    return _runtime


def enqueue_delivery(queue: Queue, delivery_id: int, channel: str = "", delay: float = 0.0,
                     attempts: int = 0) -> bool:
    """Queue the job that sends delivery `delivery_id` (after `attempts` tries so far), now or after `delay` s,
    unless that job is already waiting; True if queued."""
    job_id = delivery_job_id(queue, delivery_id, attempts)
    if is_live(queue, job_id):
        return False
    options = dict(job_timeout=SMS_JOB_TIMEOUT if channel.startswith("sms") else JOB_TIMEOUT, retry=INFRA_RETRY,
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
    queue = current_queue(settings)
    # An SMS plan queues each chunk's batches as it commits them: the first texts leave while it goes on.
    queue_batches = lambda batches: [enqueue_batch(queue, delivery_id, *batch) for batch in batches]  # noqa: E731
    outcome = deliver(runtime.delivery_context(breaker=runtime.breaker(), queue_batches=queue_batches), delivery_id)
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
        batch = sms_fanout.Batch(delivery_id, delivery.update_id, session.get(Update, delivery.update_id).uid,
                                 delivery.rendering["text"], first_id, last_id,
                                 later=[(first, last) for first, last in delivery.batches or () if first > last_id])
    channel = runtime.channels["sms"]
    throttle = runtime.sms_throttle()
    channel.use_gate(throttle)
    try:
        paused = sms_fanout.send_batch(fanout_context(runtime, count_sms(batch.text).segments), batch)
    finally:
        throttle.flush()
    if paused:
        log.info("delivery %s batch %s-%s: SMS paused for %.0fs; the reconciler resumes it", delivery_id,
                 first_id, last_id, paused)


def enqueue_confirmations(queue: Queue, subscriber_ids: list[int]) -> None:
    """Queue the job that texts each of these staff-added subscribers their one confirmation."""
    if subscriber_ids:
        queue.enqueue(confirm_added_job, list(subscriber_ids), job_timeout=JOB_TIMEOUT, retry=INFRA_RETRY,
                      description=f"confirm {len(subscriber_ids)} added numbers")


def confirm_added_job(subscriber_ids: list[int]) -> None:
    """RQ job: send each subscriber's pending confirmation (SMS_CONFIRM_ADDED) under the shared throttle."""
    runtime = current_runtime()
    channel = runtime.channels["sms"]
    throttle = runtime.sms_throttle()
    channel.use_gate(throttle)
    try:
        outcomes = confirmations.send_confirmations(runtime.sessions, channel, runtime.settings.ORG_NAME,
                                                    subscriber_ids)
    finally:
        throttle.flush()
    log.info("confirmations: %s", ", ".join(outcomes))


def enqueue_staff_texts(queue: Queue, ids: list[int]) -> bool:
    """Queue the job that sends these staff texts (crisiscast.services.staff_texts), unless it is waiting."""
    if not ids:
        return False
    job_id = staff_texts_job_id(queue, ids)
    if is_live(queue, job_id):
        return False
    queue.enqueue(staff_texts_job, list(ids), job_timeout=JOB_TIMEOUT, retry=INFRA_RETRY, job_id=job_id,
                  description=f"text {len(ids)} staff")
    return True


def staff_texts_job(ids: list[int]) -> None:
    """RQ job: send each of these staff texts once, under the shared throttle."""
    runtime = current_runtime()
    channel = runtime.channels["sms"]
    throttle = runtime.sms_throttle()
    channel.use_gate(throttle)
    try:
        outcomes = staff_texts.send_all(runtime.sessions, channel, ids)
    finally:
        throttle.flush()
    log.info("staff texts: %s", ", ".join(outcomes))


def fanout_context(runtime, segments: int = 1) -> sms_fanout.FanoutContext:
    """What this process's SMS batches of a text of `segments` segments send with."""
    settings = runtime.settings
    # Twice as many queued as threads, so a thread that finishes a send finds the next one waiting; fewer at
    # slow sender rates, where more would only wait in the throttle, claimed. The rate counts segments.
    window = sms_fanout.claim_window(settings.SMS_WORKER_THREADS, settings.SMS_SENDER_RATE / max(1, segments))
    return sms_fanout.FanoutContext(runtime.sessions, runtime.channels["sms"], runtime.retry_policy,
                                    runtime.sms_executor(), runtime.breaker(), settings.CLAIM_LEASE_SECONDS, window)


class RQQueuePort(QueuePort):
    """The reconciler's view of our RQ queue."""

    def __init__(self, queue: Queue):
        self.queue = queue

    def enqueue_delivery(self, delivery_id: int, channel: str, attempts: int) -> bool:
        return enqueue_delivery(self.queue, delivery_id, channel, attempts=attempts)

    def enqueue_batch(self, delivery_id: int, first_id: int, last_id: int) -> bool:
        return enqueue_batch(self.queue, delivery_id, first_id, last_id)
