"""The job queue: jobs stored as JSON and run by a real RQ worker; nothing in Redis can make a worker unpickle
or call anything but our job functions; a job pickled by an older version is queued again, from the database."""
import json
import os
import zlib

from rq import Queue, Retry
from rq.job import Job
from sqlalchemy import func, select

from crisiscast import jobs
from crisiscast.jobs.tasks import INFRA_RETRY
from crisiscast.sending.reconcile import reconcile
from crisiscast.store.models import Delivery, FeedEntry


class Gadget:
    """What an attacker who can write to Redis would plant: unpickling it creates `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def stored_data(queue, job_id: str):
    """A job's function and arguments as they lie in Redis, read as JSON."""
    raw = queue.connection.hget(Job.key_for(job_id), "data")
    try:
        raw = zlib.decompress(raw)
    except zlib.error:
        pass
    return json.loads(raw)


def status(queue, job_id: str) -> str:
    return Job.fetch(job_id, connection=queue.connection, serializer=jobs.queue.SERIALIZER).get_status()


def test_a_delivery_job_is_stored_as_json_and_sent_by_a_real_worker(publish, queue, drain, db):
    update = publish(channels=("feed",))
    delivery_id = update.deliveries[0].id
    job_id = jobs.delivery_job_id(queue, delivery_id, 0)
    assert stored_data(queue, job_id) == ["crisiscast.jobs.tasks.deliver_job", None, [delivery_id, "feed"], {}]
    drain()
    db.expire_all()
    assert db.get(Delivery, delivery_id).state == "sent" and status(queue, job_id) == "finished"


def test_a_pickled_job_in_redis_is_never_unpickled_nor_retried(queue, drain, tmp_path):
    planted = tmp_path / "planted"
    pickled = Queue(queue.name, connection=queue.connection)  # RQ's default serializer: pickle
    job = pickled.enqueue("crisiscast.jobs.tasks.deliver_job", Gadget(planted), retry=Retry(max=3))
    drain()
    assert not planted.exists()
    assert status(queue, job.id) == "failed" and not jobs.is_live(queue, job.id)


def test_a_job_naming_any_other_function_is_refused(queue, drain, tmp_path):
    planted = tmp_path / "planted"
    job = queue.enqueue("os.mkdir", str(planted), retry=Retry(max=3))  # JSON all right, and still code
    drain()
    assert not planted.exists()
    assert status(queue, job.id) == "failed" and not jobs.is_live(queue, job.id)


def test_a_delivery_job_pickled_before_the_upgrade_is_queued_again_and_sent_once(publish, queue, drain, db,
                                                                                  runtime):
    update = publish(channels=("feed",), queued=False)
    delivery_id = update.deliveries[0].id
    job_id = jobs.delivery_job_id(queue, delivery_id, 0)
    pickled = Queue(queue.name, connection=queue.connection)
    pickled.enqueue("crisiscast.jobs.tasks.deliver_job", delivery_id, "feed", job_id=job_id, retry=INFRA_RETRY)
    # The new version's worker refuses it at once: not run, and not left scheduled for a retry.
    jobs.make_worker([queue], queue.connection).work(burst=True, with_scheduler=True, logging_level="WARNING")
    assert status(queue, job_id) == "failed" and db.get(Delivery, delivery_id).state == "pending"
    report = reconcile(runtime.sessions, runtime.channels, jobs.RQQueuePort(queue), runtime.breaker(), grace=0)
    assert report.requeued == 1
    assert stored_data(queue, job_id)[0] == "crisiscast.jobs.tasks.deliver_job"  # now as JSON
    drain()
    db.expire_all()
    assert db.get(Delivery, delivery_id).state == "sent"
    assert db.scalar(select(func.count(FeedEntry.id)).where(FeedEntry.update_id == update.id)) == 1


def test_every_job_function_may_run():
    assert {f"{f.__module__}.{f.__name__}" for f in (jobs.tasks.deliver_job, jobs.tasks.sms_batch_job)} \
        <= jobs.queue.JOB_FUNCTIONS
