"""The reconciler: in-doubt sends are looked up before any resend; lost jobs are queued again."""
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from crisiscast import jobs
from crisiscast.channels import Message
from crisiscast.sending.breaker import Breaker
from crisiscast.sending.delivery import deliver
from crisiscast.sending.reconcile import CALLBACK_WAIT, reconcile
from crisiscast.store.models import AuditEvent, Delivery, FeedEntry, SmsRecipient, Update, utcnow
from tests.support.faultkit import wait_until


@pytest.fixture
def publish(publish):
    """Publish a draft to `channels` without queueing; return the deliveries by channel."""

    def run(*channels, lists=("public",)):
        update = publish(incident="Fort Hood", headline="Reconcile me", body="Blood donors needed.", channels=channels,
                         lists=lists if "sms" in channels else (), queued=False)
        return {d.channel: d.id for d in update.deliveries}

    return run


def reconcile_now(runtime, queue, later=timedelta(0)):
    return reconcile(runtime.sessions, runtime.channels, jobs.RQQueuePort(queue), grace=0, now=utcnow() + later)


def test_a_dead_workers_claim_is_looked_up_and_found_not_resent(runtime, publish, queue, sandbox_client, db, drain):
    ids = publish("x", "facebook")
    for channel in ("x", "facebook"):
        runtime.channels[channel].send(_message(db, ids[channel]))  # reached the provider...
    db.execute(update(Delivery).values(state="sending", attempts=1, claimed_at=utcnow(),  # ...then the worker died
                                       lease_until=utcnow() + timedelta(seconds=60)))
    db.commit()
    assert reconcile_now(runtime, queue).expired == 0  # the lease still runs
    report = reconcile_now(runtime, queue, later=timedelta(seconds=61))
    assert (report.expired, report.found, report.resend) == (2, 2, 0)
    drain()
    assert len(sandbox_client.accepted("x")) == 1 and len(sandbox_client.accepted("graph")) == 1
    db.expire_all()
    assert {d.state for d in db.scalars(select(Delivery))} == {"sent"}
    assert db.get(Delivery, ids["x"]).provider_id == sandbox_client.accepted("x")[0]["id"]


def test_a_claim_that_never_reached_the_provider_is_sent_once(runtime, publish, queue, sandbox_client, db, drain):
    ids = publish("x")
    db.execute(update(Delivery).values(state="sending", attempts=1, claimed_at=utcnow(),
                                       lease_until=utcnow() - timedelta(seconds=1)))
    db.commit()
    report = reconcile_now(runtime, queue)
    assert (report.expired, report.found, report.resend) == (1, 0, 1)
    report = reconcile_now(runtime, queue)
    assert report.requeued == 1
    drain()
    assert len(sandbox_client.accepted("x")) == 1
    assert db.get(Delivery, ids["x"]).state == "sent"
    outcomes = [e.outcome for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "reconcile")
                                               .order_by(AuditEvent.id))]
    assert outcomes == ["in_doubt", "pending"]


def test_pending_delivery_whose_job_was_lost_is_queued_again_once(runtime, publish, queue, sandbox_client, db, drain):
    publish("facebook")  # published while Redis was down: stored, never queued
    assert reconcile_now(runtime, queue).requeued == 1
    assert reconcile_now(runtime, queue).requeued == 0  # already queued: not again
    drain()
    assert len(sandbox_client.accepted("graph")) == 1


def test_in_doubt_sms_recipients_are_looked_up_at_twilio(runtime, publish, subscribe, queue, sandbox_client, db,
                                                         drain):
    subscribe("+15125550001", "+15125550002", "+15125550003")
    delivery_id = publish("sms")["sms"]
    outcome = deliver(runtime.delivery_context(sms_batch_size=50), delivery_id)
    [(first_id, last_id)] = outcome.batches
    text = db.get(Delivery, delivery_id).rendering["text"]
    from crisiscast.channels import Message

    runtime.channels["sms"].send(Message(text=text, to="+15125550001"))  # went out; its worker died before recording
    db.execute(update(SmsRecipient).where(SmsRecipient.phone.in_(["+15125550001", "+15125550002"]))
               .values(state="sending", attempts=1, claimed_at=utcnow(), lease_until=utcnow()))
    db.commit()
    report = reconcile_now(runtime, queue, later=timedelta(seconds=1))
    # The untouched recipient's batch is queued; the two in doubt wait: a status callback may still come.
    assert (report.expired, report.found, report.resend, report.batches) == (2, 0, 0, 1)
    report = reconcile_now(runtime, queue, later=CALLBACK_WAIT + timedelta(seconds=2))
    assert (report.found, report.resend) == (1, 1)
    drain()
    assert Counter(m["to"] for m in sandbox_client.accepted("twilio")) == Counter(
        {"+15125550001": 1, "+15125550002": 1, "+15125550003": 1})
    db.expire_all()
    assert db.get(Delivery, delivery_id).state == "sent"


def test_breaker_pauses_a_failing_channel_and_resumes_when_it_recovers(settings, runtime, publish, queue,
                                                                     sandbox_client, db):
    breaker = Breaker(queue.connection, threshold=3, cooldown=1.0, namespace=f"test:{settings['QUEUE_NAME']}")
    sandbox_client.configure(script={"x": ["503", "503", "503"]})
    ids = publish("x")
    for _ in range(3):
        outcome = deliver(runtime.delivery_context(breaker=breaker), ids["x"])
        assert outcome.retry_in is not None
    assert breaker.health("x").state == "degraded"
    paused = deliver(runtime.delivery_context(breaker=breaker), ids["x"])
    assert 0 < paused.retry_in <= 1.0
    db.expire_all()
    delivery = db.get(Delivery, ids["x"])
    assert (delivery.state, delivery.error_code, delivery.attempts) == ("pending", "paused", 3)
    wait_until(lambda: breaker.wait_seconds("x") == 0)  # the cooldown is over: the next request is the trial
    deliver(runtime.delivery_context(breaker=breaker), ids["x"])
    db.expire_all()
    assert db.get(Delivery, ids["x"]).state == "sent" and breaker.health("x").state == "ok"
    assert len(sandbox_client.accepted("x")) == 1


def _message(db, delivery_id):
    from crisiscast.sending.delivery import Claimed, message_of
    from crisiscast.store.models import Update

    d = db.get(Delivery, delivery_id)
    uid = db.get(Update, d.update_id).uid
    return message_of(Claimed(d.id, d.update_id, uid, d.channel, d.rendering, d.target, d.attempts))


def _in_doubt(db, delivery_id, claimed_at, ended_at):
    """Its worker claimed every recipient of `delivery_id` at `claimed_at` and died; the lease ran out at `ended_at`."""
    db.execute(update(SmsRecipient).where(SmsRecipient.delivery_id == delivery_id)
               .values(state="sending", attempts=1, claimed_at=claimed_at, lease_until=ended_at))
    db.commit()


def test_an_earlier_updates_identical_message_is_never_credited(runtime, publish, subscribe, queue, sandbox_client,
                                                                db, drain):
    subscribe("+15125550001")
    first = publish("sms")["sms"]
    outcome = deliver(runtime.delivery_context(sms_batch_size=50), first)
    jobs.sms_batch_job(first, *outcome.batches[0])  # the first update's message went out and is recorded
    second, third = publish("sms")["sms"], publish("sms")["sms"]  # the same text twice more
    assert len({db.get(Delivery, d).rendering["text"].split("http")[0] for d in (first, second, third)}) == 1
    for delivery_id in (second, third):
        deliver(runtime.delivery_context(sms_batch_size=50), delivery_id)
    # Both claim windows cover the first's message (it is on the first's row) and one more message with
    # their text, which one of their workers sent before both died: one of them gets it, the other is resent.
    runtime.channels["sms"].send(Message(text=db.get(Delivery, third).rendering["text"], to="+15125550001"))
    _in_doubt(db, second, utcnow() - timedelta(seconds=30), utcnow())
    _in_doubt(db, third, utcnow() - timedelta(seconds=20), utcnow())
    report = reconcile_now(runtime, queue, later=CALLBACK_WAIT + timedelta(seconds=2))
    assert (report.expired, report.found, report.resend) == (2, 1, 1)
    drain()
    accepted = [m["id"] for m in sandbox_client.accepted("twilio")]
    db.expire_all()
    sids = [db.scalar(select(SmsRecipient.provider_id).where(SmsRecipient.delivery_id == d))
            for d in (first, second, third)]
    assert len(accepted) == 3 and sorted(sids) == sorted(accepted)  # one message each, none borrowed
    assert sids[0] == accepted[0] and sids[1] == accepted[1]  # the oldest claim in doubt took the free one


def test_a_feed_delivery_counts_as_sent_only_once_its_files_are_written(runtime, publish, queue, settings, db, drain):
    ids = publish("feed")
    published = db.scalar(select(Update))
    link = f"{settings.PUBLIC_BASE_URL}/u/{published.uid}"
    # The worker stored the feed entry, then died before it wrote the files carrying it.
    db.add(FeedEntry(update_id=published.id, guid=link, title="Reconcile me", content="", link=link,
                     published_at=published.published_at))
    db.execute(update(Delivery).values(state="sending", attempts=1, claimed_at=utcnow(),
                                       lease_until=utcnow() - timedelta(seconds=1)))
    db.commit()
    page = Path(settings.PUBLIC_DIR) / f"u/{published.uid}.html"
    report = reconcile_now(runtime, queue)
    assert (report.expired, report.found, report.resend) == (1, 0, 1)
    db.expire_all()
    assert db.get(Delivery, ids["feed"]).state == "pending" and not page.exists()
    assert reconcile_now(runtime, queue).requeued == 1
    drain()
    db.expire_all()
    assert db.get(Delivery, ids["feed"]).state == "sent" and page.exists()
    assert b"Reconcile me" in (Path(settings.PUBLIC_DIR) / "feed.atom").read_bytes()


def test_a_text_the_provider_created_after_we_stopped_waiting_is_found_not_resent(settings, runtime, publish,
                                                                                  subscribe, queue, sandbox_client,
                                                                                  db, drain):
    """A loaded provider took the request and created the message seconds after our timeout (and after the
    claim's end plus the clock slack): the lookup still credits it, so the number gets one text, not two."""
    from crisiscast.channels import InDoubtError
    from crisiscast.runtime import Runtime

    subscribe("+15125550001")
    delivery_id = publish("sms")["sms"]
    deliver(runtime.delivery_context(sms_batch_size=50), delivery_id)
    text = db.get(Delivery, delivery_id).rendering["text"]
    claimed = utcnow()
    sandbox_client.configure(timeout_seconds=8, script={"twilio": ["late"]})
    impatient = Runtime(settings.replace(PROVIDER_TIMEOUT=0.5))
    try:
        with pytest.raises(InDoubtError):
            impatient.channels["sms"].send(Message(text=text, to="+15125550001"))
    finally:
        impatient.close()
    db.execute(update(SmsRecipient).values(state="in_doubt", attempts=1, claimed_at=claimed, lease_until=utcnow()))
    db.commit()
    wait_until(lambda: len(sandbox_client.accepted("twilio")) == 1, timeout=60)
    report = reconcile_now(runtime, queue, later=CALLBACK_WAIT + timedelta(seconds=2))
    assert (report.found, report.resend) == (1, 0)
    drain()
    assert len(sandbox_client.accepted("twilio")) == 1
    db.expire_all()
    row = db.scalar(select(SmsRecipient))
    assert row.state == "sent" and row.provider_id == sandbox_client.accepted("twilio")[0]["id"]
