"""Sending one delivery: claimed once, retried with backoff, failures recorded once, in-doubt never resent."""
import threading

import pytest
from sqlalchemy import select

import config
from crisiscast.sending.delivery import RetryPolicy, deliver
from crisiscast.store.models import AuditEvent, Delivery


@pytest.fixture
def publish(publish):
    """Publish a draft to `channels` without queueing; return the deliveries by channel."""

    def run(*channels, body="Blood donors needed at the main campus.", lists=("public",)):
        update = publish(incident="Fort Hood", headline="Update", body=body, channels=channels,
                         lists=lists if "sms" in channels else (), queued=False)
        return {d.channel: d.id for d in update.deliveries}

    return run


def run(runtime, delivery_id, policy=None):
    """Run the delivery once; the seconds until it should run again, or None when it is settled."""
    return deliver(runtime.delivery_context(policy=policy or runtime.retry_policy), delivery_id).retry_in


def outcomes(db, channel):
    return [e.outcome for e in db.scalars(select(AuditEvent).where(AuditEvent.channel == channel,
                                                                   AuditEvent.action == "send")
                                          .order_by(AuditEvent.id))]


def test_two_workers_on_the_same_delivery_send_once(runtime, publish, sandbox_client, db):
    sandbox_client.configure(latency_ms=200)
    delivery_id = publish("x")["x"]
    threads = [threading.Thread(target=run, args=(runtime, delivery_id)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sandbox_client.accepted("x")) == 1
    assert db.get(Delivery, delivery_id).state == "sent"
    assert outcomes(db, "x") == ["sent"]


def test_retryable_error_is_retried_then_sent(runtime, publish, sandbox_client, db):
    sandbox_client.configure(script={"graph": ["503"]})
    delivery_id = publish("facebook")["facebook"]
    assert run(runtime, delivery_id) is not None
    db.expire_all()
    assert db.get(Delivery, delivery_id).state == "pending"
    assert run(runtime, delivery_id) is None
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert outcomes(db, "facebook") == ["retrying", "sent"]


def test_retries_give_up_after_the_budget_and_say_so(runtime, publish, sandbox_client, db):
    sandbox_client.configure(script={"x": ["500", "500", "500"]})
    delivery_id = publish("x")["x"]
    policy = RetryPolicy(max_attempts=3, base=0, cap=0)
    assert run(runtime, delivery_id, policy) is not None
    assert run(runtime, delivery_id, policy) is not None
    assert run(runtime, delivery_id, policy) is None
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert delivery.state == "failed" and "gave up after 3 attempts" in delivery.error_message
    assert outcomes(db, "x") == ["retrying", "retrying", "failed"]
    assert sandbox_client.accepted("x") == []


def test_no_answer_is_in_doubt_and_never_resent_automatically(settings, publish, sandbox_client, db):
    from crisiscast.runtime import Runtime

    sandbox_client.configure(timeout_seconds=3, script={"x": ["lost"]})
    rt = Runtime(config.Settings({**settings, "PROVIDER_TIMEOUT": 0.5}))
    delivery_id = publish("x")["x"]
    assert run(rt, delivery_id) is None
    assert run(rt, delivery_id) is None
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert delivery.state == "in_doubt" and "asks X before it sends anything again" in delivery.error_message
    assert len(sandbox_client.accepted("x")) == 1
    rt.close()
