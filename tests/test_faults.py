"""Fault tests: workers killed, Redis lost, providers failing. Each counts what the sandbox accepted.

Every recipient must have exactly one accepted message, and X and Facebook exactly one post each.
"""
import time

import pytest
from sqlalchemy import select

import config
from crisiscast import faultkit, jobs, services
from crisiscast.domain import Draft
from crisiscast.models import Delivery
from crisiscast.redis_server import PrivateRedis
from crisiscast.runtime import Runtime

RECIPIENTS = 2000
FAST_RECOVERY = dict(CLAIM_LEASE_SECONDS=3, RECONCILE_SECONDS=1, RECONCILE_GRACE_SECONDS=1, SMS_WORKER_THREADS=10,
                     SMS_BATCH_SIZE=200, PROVIDER_TIMEOUT=1, RETRY_BASE_SECONDS=0.1, RETRY_MAX_SECONDS=1,
                     BREAKER_THRESHOLD=5, BREAKER_COOLDOWN_SECONDS=1, BREAKER_MAX_COOLDOWN_SECONDS=2)


def publish_everything(runtime, users, queue) -> int:
    draft = Draft(incident="Fort Hood shooting response", er_access="diversion", operating_status="lockdown",
                  headline="Lockdown: ER on diversion", body="Avoid the main campus.",
                  channels=("sms", "x", "facebook", "feed"), lists=("public",))
    with runtime.sessions() as session:
        author = session.merge(users["author"])
        result = services.publish(session, draft, uid=services.new_uid(), author=author, settings=runtime.settings,
                                  channels=runtime.channels,
                                  enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c))
        return result.update.id


def wait_for_accepted(sandbox_client, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted = sandbox_client.stats()["sms_accepted"]
        if accepted >= at_least:
            return accepted
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} messages accepted after {timeout}s")


def assert_exactly_once(runtime, sandbox_client, numbers):
    counts = faultkit.tally(sandbox_client.accepted("twilio"), numbers)
    assert counts == {"once": len(numbers), "lost": 0, "duplicated": 0, "strangers": 0}
    assert len(sandbox_client.accepted("x")) == 1
    assert len([r for r in sandbox_client.accepted("graph") if r["kind"] == "post"]) == 1
    with runtime.sessions() as session:
        states = dict(session.execute(select(Delivery.channel, Delivery.state)).all())
    assert states == {"sms": "sent", "x": "sent", "facebook": "sent", "feed": "sent"}


@pytest.fixture
def numbers(db):
    return faultkit.add_subscribers(db, RECIPIENTS)


@pytest.fixture
def pool(settings, tmp_path):
    workers = faultkit.WorkerPool(settings, FAULTKIT_LOG=tmp_path / "workers.log", **FAST_RECOVERY)
    yield workers
    workers.stop()


def test_workers_killed_mid_fan_out_then_replaced(runtime, users, queue, numbers, pool, sandbox_client):
    sandbox_client.configure(latency_ms=30, concurrency=20)
    pool.start(2)
    publish_everything(runtime, users, queue)
    wait_for_accepted(sandbox_client, RECIPIENTS // 4)
    # Slow the provider right down before the kill, so that it lands mid fan-out however loaded the machine is.
    sandbox_client.configure(latency_ms=2000)
    assert pool.kill9() == 2
    assert sandbox_client.stats()["sms_accepted"] < RECIPIENTS
    sandbox_client.configure(latency_ms=30)
    pool.start(2)
    faultkit.wait_settled(runtime.sessions, timeout=120)
    assert_exactly_once(runtime, sandbox_client, numbers)


def test_redis_lost_mid_fan_out_and_replaced_by_an_empty_one(settings, users, numbers, sandbox_client, tmp_path):
    redis = PrivateRedis()
    port = redis.port
    lost_redis = config.Settings({**settings, "REDIS_URL": redis.url})
    runtime = Runtime(lost_redis)
    queue = jobs.make_queue(lost_redis)
    pool = faultkit.WorkerPool(lost_redis, FAULTKIT_LOG=tmp_path / "workers.log", **FAST_RECOVERY)
    try:
        sandbox_client.configure(latency_ms=30, concurrency=20)
        pool.start(2)
        publish_everything(runtime, users, queue)
        wait_for_accepted(sandbox_client, RECIPIENTS // 4)
        redis.stop()
        time.sleep(1)  # the outage itself: workers meet a closed port for a while (nothing is assumed to happen)
        redis = PrivateRedis(port)  # a fresh server: every queued job, lock and counter is gone
        assert queue.connection.dbsize() == 0
        faultkit.wait_settled(runtime.sessions, timeout=120, on_tick=pool.replace_dead)
        assert_exactly_once(runtime, sandbox_client, numbers)
    finally:
        pool.stop()
        redis.stop()
        runtime.close()


def test_a_fifth_of_provider_calls_failing(runtime, users, queue, numbers, pool, sandbox_client):
    kinds = ["429", "500", "503", "timeout"]
    sandbox_client.configure(latency_ms=5, concurrency=30, timeout_seconds=1.5,
                             faults={p: {"rate": 0.2, "kinds": kinds} for p in ("twilio", "x", "graph")})
    pool.env["RETRY_MAX_ATTEMPTS"] = "15"  # 0.2 ** 15: no recipient runs out of tries by chance
    pool.start(2)
    publish_everything(runtime, users, queue)
    faultkit.wait_settled(runtime.sessions, timeout=180)
    counters = sandbox_client.stats()["counters"]
    assert all(counters.get(f"twilio.fault_{k}", 0) > 0 for k in kinds)
    assert_exactly_once(runtime, sandbox_client, numbers)
