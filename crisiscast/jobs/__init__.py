"""The only bridge to RQ: queues and job ids (queue), the job functions (tasks), the worker loop (worker).

Job ids are derived from what they send (a delivery and its attempt, a batch's id range), so the
reconciler can tell whether a job is already queued before it queues one again. Jobs queued before
the package split name `crisiscast.jobs.deliver_job` and `crisiscast.jobs.sms_batch_job`: the names
below keep those importable.
"""
from crisiscast.jobs.queue import batch_job_id, delivery_job_id, is_live, make_queue, make_worker, redis_connection
from crisiscast.jobs.tasks import (RQQueuePort, confirm_added_job, current_runtime, deliver_job, enqueue_batch,
                                   enqueue_confirmations, enqueue_delivery, enqueue_staff_texts, install,
                                   sms_batch_job)
from crisiscast.jobs.worker import reconcile_forever, reconcile_once, run_worker

__all__ = ["RQQueuePort", "batch_job_id", "confirm_added_job", "current_runtime", "deliver_job", "delivery_job_id",
           "enqueue_batch", "enqueue_confirmations", "enqueue_delivery", "enqueue_staff_texts", "install", "is_live",
           "make_queue", "make_worker", "reconcile_forever", "reconcile_once", "redis_connection", "run_worker", "sms_batch_job"]
