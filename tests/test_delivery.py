"""Sending one delivery: claimed once, retried with backoff, failures recorded once, opt-outs honoured."""
import threading
from collections import Counter

import pytest
from sqlalchemy import select

import config
from crisiscast import services
from crisiscast.delivery import RetryPolicy, deliver
from crisiscast.domain import Draft
from crisiscast.models import AuditEvent, Delivery, SmsRecipient, Subscriber


@pytest.fixture
def publish(db, runtime, users):
    """Publish a draft to `channels` without queueing; return the deliveries by channel."""

    def run(*channels, body="Blood donors needed at the main campus."):
        draft = Draft(incident="Fort Hood", er_access="open", operating_status="normal", headline="Update",
                      body=body, channels=channels)
        result = services.publish(db, draft, uid=services.new_uid(), author=users["author"],
                                  settings=runtime.settings, channels=runtime.channels, enqueue=lambda *a: None)
        return {d.channel: d.id for d in result.update.deliveries}

    return run


def run(runtime, delivery_id, policy=None):
    return deliver(runtime.sessions, runtime.channels, delivery_id, policy or runtime.retry_policy)


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
    assert delivery.state == "failed" and "may have gone out" in delivery.error_message
    assert len(sandbox_client.accepted("x")) == 1
    rt.close()


def test_sms_goes_to_each_active_subscriber_once_even_with_429s(runtime, publish, sandbox_client, db):
    db.add_all([Subscriber(phone=f"+1512555{i:04d}") for i in range(40)] +
               [Subscriber(phone="+15125559999", active=False)])
    db.commit()
    sandbox_client.configure(faults={"twilio": {"rate": 0.3, "kinds": ["429", "503"]}})
    delivery_id = publish("sms")["sms"]
    patient = RetryPolicy(max_attempts=25, base=0, cap=0)  # 0.3 ** 25: no recipient runs out of tries
    rounds = 0
    while run(runtime, delivery_id, patient) is not None:
        rounds += 1
        assert rounds < 25
    sent = Counter(m["to"] for m in sandbox_client.accepted("twilio"))
    assert len(sent) == 40 and set(sent.values()) == {1}
    assert "+15125559999" not in sent
    db.expire_all()
    assert db.get(Delivery, delivery_id).state == "sent"
    assert db.get(Delivery, delivery_id).provider_id == "40 messages"


def test_stop_after_publish_cancels_that_recipients_message(runtime, publish, sandbox_client, db):
    stays, leaves = Subscriber(phone="+15125551267"), Subscriber(phone="+15125550188")
    db.add_all([stays, leaves])
    db.commit()
    delivery_id = publish("sms")["sms"]
    leaves.active = False
    db.commit()
    assert run(runtime, delivery_id) is None
    assert [m["to"] for m in sandbox_client.accepted("twilio")] == ["+15125551267"]
    states = dict(db.execute(select(SmsRecipient.phone, SmsRecipient.state)).all())
    # Recipients are planned by the worker, so one who left before that is never planned at all.
    assert states == {"+15125551267": "sent"}


def test_opt_out_between_planning_and_sending_is_cancelled(runtime, publish, sandbox_client, db):
    from crisiscast.delivery import _plan_recipients

    subscriber = Subscriber(phone="+15125550188")
    db.add(subscriber)
    db.commit()
    delivery_id = publish("sms")["sms"]
    _plan_recipients(runtime.sessions, delivery_id)
    subscriber.active = False
    db.commit()
    assert run(runtime, delivery_id) is None
    assert sandbox_client.accepted("twilio") == []
    recipient = db.scalar(select(SmsRecipient))
    assert (recipient.state, recipient.error_code) == ("cancelled", "opted_out")
    assert outcomes(db, "sms") == ["cancelled"]


def test_a_permanently_invalid_number_fails_once_and_the_rest_go_out(runtime, publish, sandbox_client, db):
    db.add_all([Subscriber(phone="+15125551267"), Subscriber(phone="+15005550001")])
    db.commit()
    delivery_id = publish("sms")["sms"]
    assert run(runtime, delivery_id) is None
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert delivery.state == "partial" and "1 of 2 messages failed" in delivery.error_message
    assert sorted(outcomes(db, "sms")) == ["failed", "sent"]
    assert run(runtime, delivery_id) is None
    assert len(sandbox_client.accepted("twilio")) == 1


def test_no_subscribers_is_skipped_with_a_reason(runtime, publish, db):
    delivery_id = publish("sms")["sms"]
    run(runtime, delivery_id)
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert (delivery.state, delivery.error_message) == ("skipped", "No active subscribers.")
