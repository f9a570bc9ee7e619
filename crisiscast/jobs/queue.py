"""Our RQ queue: its Redis connection, the ids of the jobs on it, and whether a job is still to run."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from crisiscast.sending.redis_connections import client

# A "started" job may belong to a worker that was killed: RQ notices that late, so it does not count as
# live. Running a job twice is safe (every send is claimed once); never running it is not.
LIVE = {"queued", "scheduled", "deferred"}
SCHEDULER_SLACK = 30


def redis_connection(settings) -> Redis:
    """A new Redis client for settings.REDIS_URL."""
    return client(settings.REDIS_URL)


def make_queue(settings, connection: Redis | None = None) -> Queue:
    """The queue settings.QUEUE_NAME names, on `connection` or a new one."""
    return Queue(settings.QUEUE_NAME, connection=connection or redis_connection(settings))


def delivery_job_id(queue: Queue, delivery_id: int, attempts: int) -> str:
    """The id of the job that tries delivery `delivery_id` after `attempts` tries."""
    return f"{_prefix(queue)}-delivery-{delivery_id}-a{attempts}"


def batch_job_id(queue: Queue, delivery_id: int, first_id: int, last_id: int) -> str:
    """The id of the job that sends one SMS batch."""
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


def current_queue(settings) -> Queue:
    """The queue the running job came from (its follow-ups go there), or the configured one."""
    from rq import get_current_job

    job = get_current_job()
    return Queue(job.origin, connection=job.connection) if job else make_queue(settings)
