"""Our RQ queue: its Redis connection, the ids of the jobs on it, and whether a job is still to run."""
from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone

from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from crisiscast.sending.redis_connections import client

# Jobs are written and read as JSON, never pickle: RQ's default would unpickle whatever a job in Redis holds,
# so anyone who could write to our Redis could run code in every worker. Our jobs' arguments are ids and
# names, which JSON carries as they are.
SERIALIZER = JSONSerializer
# What a job may call. A job names its function by dotted path and RQ imports whatever it names (os.system
# with JSON arguments would do), so the worker runs these and nothing else. The older paths are those of jobs
# queued before the package split.
JOB_FUNCTIONS = frozenset({"crisiscast.jobs.tasks.deliver_job", "crisiscast.jobs.tasks.sms_batch_job",
                           "crisiscast.jobs.tasks.confirm_added_job", "crisiscast.jobs.tasks.staff_texts_job",
                           "crisiscast.jobs.deliver_job", "crisiscast.jobs.sms_batch_job"})
log = logging.getLogger(__name__)


class RefusedJob(Exception):
    """A job in Redis that names something other than one of our job functions, or that cannot be read."""


class CrisiscastJob(Job):
    """An RQ job that can only run one of JOB_FUNCTIONS, and never a callback (we queue none)."""

    @property
    def func(self):
        if self.func_name not in JOB_FUNCTIONS or self.instance is not None:
            raise RefusedJob(f"job {self.id} names {self.func_name!r}, which is not a crisiscast job function")
        return super().func

    success_callback = failure_callback = stopped_callback = property(lambda self: None)


def _not_retried(job: Job, exc_type, exc, _traceback) -> bool:
    """An RQ exception handler: a job we refuse or cannot read (pickled by a version before JSON, or forged)
    would fail the same way on every retry, so it goes straight to the failed jobs. The reconciler queues
    its delivery or batch again from the database once the grace has passed."""
    if isinstance(exc, (RefusedJob, DeserializationError)):
        job.retries_left = 0
        log.warning("job %s refused, not run: %s", job.id, exc if isinstance(exc, RefusedJob)
                    else "not readable as JSON (queued by an older version, or not by crisiscast)")
    return True  # on to RQ's own handling: the job is recorded as failed

# A "started" job may belong to a worker that was killed: RQ notices that late, so it does not count as
# live. Running a job twice is safe (every send is claimed once); never running it is not.
LIVE = {"queued", "scheduled", "deferred"}
SCHEDULER_SLACK = 30


def redis_connection(settings) -> Redis:
    """A new Redis client for settings.REDIS_URL."""
    return client(settings.REDIS_URL)


def make_queue(settings, connection: Redis | None = None) -> Queue:
    """The queue settings.QUEUE_NAME names, on `connection` or a new one."""
    return Queue(settings.QUEUE_NAME, connection=connection or redis_connection(settings), serializer=SERIALIZER)


def make_worker(queues: list[Queue], connection: Redis, name: str | None = None) -> SimpleWorker:
    """An RQ worker for `queues` that reads jobs with our serializer (so does its scheduler) and runs only ours."""
    return SimpleWorker(queues, connection=connection, name=name, serializer=SERIALIZER, job_class=CrisiscastJob,
                        exception_handlers=[_not_retried])


def delivery_job_id(queue: Queue, delivery_id: int, attempts: int) -> str:
    """The id of the job that tries delivery `delivery_id` after `attempts` tries."""
    return f"{_prefix(queue)}-delivery-{delivery_id}-a{attempts}"


def batch_job_id(queue: Queue, delivery_id: int, first_id: int, last_id: int) -> str:
    """The id of the job that sends one SMS batch."""
    return f"{_prefix(queue)}-sms-{delivery_id}-{first_id}-{last_id}"


def staff_texts_job_id(queue: Queue, ids: list[int]) -> str:
    """The id of the job that sends these staff texts."""
    digest = hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]
    return f"{_prefix(queue)}-staff-{digest}"


def _prefix(queue: Queue) -> str:
    # Job ids are global in Redis: the queue's name keeps two deployments sharing one Redis apart.
    return re.sub(r"[^A-Za-z0-9_-]", "_", queue.name)


def is_live(queue: Queue, job_id: str) -> bool:
    """True when a job with this id is waiting, or scheduled and not overdue (a dead scheduler moves nothing)."""
    try:
        status = Job.fetch(job_id, connection=queue.connection, serializer=SERIALIZER).get_status(refresh=False)
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
    return Queue(job.origin, connection=job.connection, serializer=SERIALIZER) if job else make_queue(settings)
