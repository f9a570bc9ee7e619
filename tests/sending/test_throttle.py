"""The shared throttle's Redis connections: its own, few, reused by threads that come and go, and renewed."""
import threading

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

import config
from crisiscast import jobs
from crisiscast.sending.throttle import Limits, Throttle
from dev.redis_server import PrivateRedis
from tests.support.faultkit import wait_until

KEEP = 4


def named(connection, name: str) -> int:
    return sum(1 for client in connection.client_list() if client["name"] == name)



def test_threads_that_come_and_go_reuse_a_few_connections_and_leave_the_job_queues_pool_alone(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACconn", sender="+9", max_concurrency=5, rate_per_second=10_000),
                        connections=KEEP)
    pool = queue.connection.connection_pool
    created = pool._created_connections
    failures = []

    def send():
        try:
            with throttle.slot():
                pass
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            failures.append(exc)

    # 300 threads, 10 at a time: three times what the job queue's client pool may ever make (100).
    for _ in range(30):
        wave = [threading.Thread(target=send) for _ in range(10)]
        for thread in wave:
            thread.start()
        for thread in wave:
            thread.join()
    assert failures == []
    assert throttle.connections() <= KEEP  # the others were closed when their calls ended
    assert pool._created_connections == created and not pool._in_use_connections
    assert wait_until(lambda: named(queue.connection, throttle.client_name) <= KEEP)
    # The reconciler's lock comes from the job queue's client: it can still be taken.
    assert jobs.reconcile_once(runtime, queue) is not None


def test_a_throttle_whose_redis_was_replaced_connects_to_the_new_one(settings, tmp_path):
    redis = PrivateRedis()
    try:
        client = jobs.redis_connection(config.Settings({**settings, "REDIS_URL": redis.url}))
        throttle = Throttle(client, Limits(account="ACgone", sender="+10", max_concurrency=2, rate_per_second=10_000),
                            connections=KEEP)
        with throttle.slot():
            pass
        throttle.flush()
        assert wait_until(lambda: throttle._sweeper is None)  # nothing of the throttle's own is calling Redis
        port = redis.port
        redis.stop()
        with pytest.raises(RedisConnectionError):
            throttle.in_use()
        assert throttle.connections() == 0  # every connection to the lost server was dropped
        redis = PrivateRedis(port, redis.password)
        with throttle.slot():
            assert throttle.in_use() == 1
        assert throttle.connections() == 1
    finally:
        redis.stop()


def test_a_lookup_waits_for_the_cap_but_not_for_the_sender_rate(runtime, queue):
    # Keys of this run's own (the queue's name is unique per run): Redis is shared by every run on the machine,
    # and another run's message in the last hour would make this one's first wait for the rest of that hour.
    throttle = Throttle(queue.connection, Limits(account=f"AClook-{queue.name}", sender=f"+11-{queue.name}",
                        max_concurrency=1, rate_per_second=1 / 3600))
    with throttle.slot():  # the sender's one message an hour
        pass
    throttle.flush()
    looked_up = threading.Event()

    def look_up():
        with throttle.slot(message=False):
            looked_up.set()

    lookup = threading.Thread(target=look_up)
    lookup.start()
    lookup.join(120)  # a second message would wait an hour
    assert looked_up.is_set()
