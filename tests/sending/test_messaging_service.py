"""Sending through a Twilio Messaging Service: MessagingServiceSid instead of From, the throttle keyed by the
service, and a send in doubt looked up among the service's messages whichever pool number Twilio chose."""
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import config
from crisiscast import jobs
from crisiscast.channels import Message
from crisiscast.channels.sms import SmsChannel
from crisiscast.runtime import Runtime
from crisiscast.sandbox.state import Credentials
from crisiscast.sending.delivery import deliver
from crisiscast.sending.reconcile import CALLBACK_WAIT, reconcile
from crisiscast.store.models import AuditEvent, Delivery, SmsRecipient, utcnow
from tests.support import faultkit

CREDS = Credentials()
SERVICE, POOL = CREDS.twilio_messaging_service_sid, CREDS.twilio_sender_pool


def through_service(settings, **changes) -> config.Settings:
    return settings.replace(TWILIO_MESSAGING_SERVICE_SID=SERVICE, **changes)


@pytest.fixture
def pooled(settings, runtime):
    """A runtime sending through the sandbox's Messaging Service, installed for the jobs this test runs."""
    rt = Runtime(through_service(settings))
    jobs.install(rt)
    yield rt
    jobs.install(runtime)
    rt.close()


def test_a_send_carries_the_service_not_a_number(pooled, sandbox_client):
    receipt = pooled.channels["sms"].send(Message(text="ER open with delays", to="+15125551267"))
    assert receipt.status == "accepted" and receipt.provider_id.startswith("SM")
    [sent] = sandbox_client.accepted("twilio")
    assert (sent["from_given"], sent["messaging_service_sid"]) == ("", SERVICE)
    assert sent["sender"] in POOL


def test_the_service_stands_in_for_the_number(settings):
    assert SmsChannel(through_service(settings, TWILIO_FROM_NUMBER="")).missing_settings() == []
    assert SmsChannel(settings.replace(TWILIO_FROM_NUMBER="")).missing_settings() == ["TWILIO_FROM_NUMBER"]


def test_the_throttle_is_the_services_shared_by_every_worker(pooled, runtime):
    assert pooled.sms_throttle().rate_key.endswith(f":{SERVICE}")
    assert runtime.sms_throttle().rate_key.endswith(f":{POOL[0]}")  # without a service: the number's own


def test_a_fan_out_through_the_service_sends_each_recipient_one_message(pooled, subscribe, publish, db, queue,
                                                                         sandbox_client, drain):
    numbers = [f"+1512555{i:04d}" for i in range(12)]
    subscribe(*numbers)
    update_ = publish(channels=("sms",), lists=("public",), on=pooled)
    drain()
    accepted = sandbox_client.accepted("twilio")
    assert Counter(m["to"] for m in accepted) == {n: 1 for n in numbers}
    assert {m["messaging_service_sid"] for m in accepted} == {SERVICE} and {m["from_given"] for m in accepted} == {""}
    assert set(Counter(m["sender"] for m in accepted)) == set(POOL)  # Twilio spread them over the pool
    db.expire_all()
    rows = db.scalars(select(SmsRecipient).where(SmsRecipient.delivery_id == update_.deliveries[0].id)).all()
    assert {r.state for r in rows} == {"sent"} and {r.provider_id for r in rows} == {m["id"] for m in accepted}


@pytest.fixture
def planned(publish, subscribe, pooled):
    """Three recipients of an SMS update planned, not sent: the delivery's id and text."""
    subscribe("+15125550001", "+15125550002", "+15125550003")
    drill = publish(incident="Fort Hood", headline="Reconcile me", body="Blood donors needed.", channels=("sms",),
                    lists=("public",), queued=False, on=pooled)
    delivery_id = drill.deliveries[0].id
    deliver(pooled.delivery_context(sms_batch_size=50), delivery_id)
    return delivery_id, drill.deliveries[0].rendering["text"]


def test_a_pooled_send_in_doubt_is_found_by_the_service_not_resent(pooled, runtime, planned, db, queue,
                                                                   sandbox_client, drain):
    """The message went out through the service (from a pool number the row never knew) and its worker died
    before recording it: the lookup finds it. A message with the same text from our number outside the service
    is not ours to credit: that row's text is sent again, through the service."""
    delivery_id, text = planned
    pooled.channels["sms"].send(Message(text=text, to="+15125550001"))
    runtime.channels["sms"].send(Message(text=text, to="+15125550002"))  # from the number, not the service
    db.execute(update(SmsRecipient).where(SmsRecipient.phone.in_(["+15125550001", "+15125550002"]))
               .values(state="sending", attempts=1, claimed_at=utcnow() - timedelta(seconds=2), lease_until=utcnow()))
    db.commit()
    report = reconcile(pooled.sessions, pooled.channels, jobs.RQQueuePort(queue), grace=0,
                       now=utcnow() + CALLBACK_WAIT + timedelta(seconds=2))
    assert (report.expired, report.found, report.resend) == (2, 1, 1)
    drain()
    accepted = sandbox_client.accepted("twilio")
    assert Counter(m["to"] for m in accepted) == {"+15125550001": 1, "+15125550002": 2, "+15125550003": 1}
    pooled_ids = {m["id"] for m in accepted if m["messaging_service_sid"] == SERVICE}
    db.expire_all()
    rows = db.scalars(select(SmsRecipient).where(SmsRecipient.delivery_id == delivery_id)).all()
    assert {r.state for r in rows} == {"sent"} and {r.provider_id for r in rows} == pooled_ids
    assert db.get(Delivery, delivery_id).state == "sent"


KILLABLE = dict(CLAIM_LEASE_SECONDS=3, RECONCILE_SECONDS=1, RECONCILE_GRACE_SECONDS=1, SMS_WORKER_THREADS=10,
                SMS_BATCH_SIZE=200, PROVIDER_TIMEOUT=1, RETRY_BASE_SECONDS=0.1, RETRY_MAX_SECONDS=1,
                TWILIO_MESSAGING_SERVICE_SID=SERVICE)


def test_a_worker_killed_mid_fan_out_through_the_service_leaves_one_message_per_recipient(
        runtime, users, publish, queue, db, settings, sandbox_client, tmp_path):
    count = 200
    numbers = faultkit.add_subscribers(db, count)
    pool = faultkit.WorkerPool(settings, FAULTKIT_LOG=tmp_path / "workers.log", **KILLABLE)
    try:
        sandbox_client.configure(latency_ms=300)  # requests are on the wire when the worker dies
        pool.start(1)
        delivery_id = publish(channels=("sms",), lists=("public",)).deliveries[0].id
        faultkit.wait_until(lambda: sandbox_client.stats()["sms_accepted"] >= count // 3, timeout=120,
                            what="a third of the fan-out accepted")
        assert pool.kill9() == 1
        with runtime.sessions() as session:
            in_flight = session.scalar(select(func.count(SmsRecipient.id)).where(SmsRecipient.state == "sending"))
        assert in_flight > 0  # claims the dead worker held: their sends are in doubt
        sandbox_client.configure(latency_ms=0)
        pool.start(1)
        faultkit.wait_settled(runtime.sessions, timeout=180)
    finally:
        pool.stop()
    accepted = {m["id"]: m for m in sandbox_client.accepted("twilio")}
    assert faultkit.tally(list(accepted.values()), numbers) == {"once": count, "lost": 0, "duplicated": 0,
                                                                 "strangers": 0}
    assert {m["messaging_service_sid"] for m in accepted.values()} == {SERVICE}
    with runtime.sessions() as session:
        rows = session.execute(select(SmsRecipient.provider_id, SmsRecipient.state)
                               .where(SmsRecipient.delivery_id == delivery_id)).all()
        recovered = Counter(session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "reconcile")))
    assert {r.state for r in rows} == {"sent"} and sorted(r.provider_id for r in rows) == sorted(accepted)
    assert recovered["in_doubt"] >= in_flight and recovered["sent"] >= 1  # at least one was found, not resent
