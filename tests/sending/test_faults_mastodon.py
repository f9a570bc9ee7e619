"""Mastodon under provider faults, through real worker processes: every update ends as exactly one status.

A lost answer (the instance stored the status, the worker timed out) is found by the reconciler's lookup or
given back by the instance for the same Idempotency-Key; a timeout before the instance stored anything is
sent again; 429 and 5xx are retried.
"""
from collections import Counter

import pytest
from sqlalchemy import select

from crisiscast import jobs
from crisiscast.core.domain import Draft
from crisiscast.services import publishing
from crisiscast.store.models import Delivery, Update
from tests.support import faultkit
from tests.sending.test_faults import FAST_RECOVERY

UPDATES = 8
KINDS = ["429", "500", "503", "timeout", "lost"]


@pytest.fixture
def pool(settings, tmp_path):
    workers = faultkit.WorkerPool(settings, FAULTKIT_LOG=tmp_path / "workers.log", RETRY_MAX_ATTEMPTS=15,
                                  **FAST_RECOVERY)
    yield workers
    workers.stop()


def publish_many(runtime, users, queue) -> list[str]:
    uids = []
    with runtime.sessions() as session:
        author = session.merge(users["author"])
        for n in range(UPDATES):
            draft = Draft(incident="Ice storm", er_access="open_delays", operating_status="limited",
                          headline=f"Road update {n}", body="Come only if you must.", channels=("mastodon",))
            uid = publishing.new_uid()
            publishing.publish(session, draft, uid=uid, author=author, settings=runtime.settings,
                               channels=runtime.channels, enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c))
            uids.append(uid)
    return uids


def test_each_update_is_one_status_whatever_the_instance_does(runtime, users, queue, pool, sandbox_client):
    runtime.channels["mastodon"].max_characters()  # asked once, before the faults begin
    sandbox_client.configure(timeout_seconds=1.5, script={"mastodon": KINDS},
                             faults={"mastodon": {"rate": 0.2, "kinds": KINDS}})
    pool.start(2)
    uids = publish_many(runtime, users, queue)
    faultkit.wait_settled(runtime.sessions, timeout=180)
    counters = sandbox_client.stats()["counters"]
    assert all(counters.get(f"mastodon.fault_{kind}", 0) > 0 for kind in KINDS)
    posts = [r for r in sandbox_client.accepted("mastodon") if r["kind"] == "post"]
    keys = Counter(p["idempotency_key"] for p in posts)
    assert keys == Counter({f"crisiscast-{uid}-mastodon-post": 1 for uid in uids})
    with runtime.sessions() as session:
        rows = session.execute(select(Update.uid, Delivery.state, Delivery.provider_id).join(Update)).all()
    by_key = {p["idempotency_key"]: p["id"] for p in posts}
    assert {(uid, state, provider_id) for uid, state, provider_id in rows} == {
        (uid, "sent", by_key[f"crisiscast-{uid}-mastodon-post"]) for uid in uids}
