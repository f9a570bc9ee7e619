"""Webhooks with a Twilio Messaging Service: receipts of pooled messages reach their own rows (queued first, never
accepted), and JOIN/STOP work on any number of the service's pool."""
from collections import Counter

import requests
from sqlalchemy import select

from crisiscast import jobs
from crisiscast.sandbox.state import Credentials
from crisiscast.store.models import SmsReceipt, SmsRecipient, Subscriber, SubscriberList
from tests.support import faultkit
from tests.support.faultkit import wait_until
from tests.web.test_webhooks import receipts_audited, serving

CREDS = Credentials()
SERVICE, POOL = CREDS.twilio_messaging_service_sid, CREDS.twilio_sender_pool


def test_every_receipt_of_a_pooled_fan_out_reaches_its_own_row(settings, runtime, sandbox_client, publish, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=0)
    numbers = faultkit.add_subscribers(db, 60) + ["+15005550030"]
    db.add(Subscriber(phone=numbers[-1], lists=[db.scalar(select(SubscriberList).where(SubscriberList.name == "public"))]))
    db.commit()
    with serving(settings, TWILIO_MESSAGING_SERVICE_SID=SERVICE) as live:
        publish(channels=("sms",), lists=("public",), on=live)
        jobs.make_worker([queue], queue.connection).work(burst=True)

        def statuses():
            db.expire_all()
            return dict(Counter(db.scalars(select(SmsRecipient.status))))

        wait_until(lambda: statuses() == {"delivered": 60, "undelivered": 1}, timeout=60,
                   what=lambda: f"every receipt applied: {statuses()}, {sandbox_client.stats()['counters']}")
    accepted = {m["id"]: m for m in sandbox_client.accepted("twilio")}
    assert {m["messaging_service_sid"] for m in accepted.values()} == {SERVICE}
    rows = db.execute(select(SmsRecipient.phone, SmsRecipient.provider_id, SmsRecipient.state)).all()
    assert {r.state for r in rows} == {"sent"}
    assert all(accepted[r.provider_id]["to"] == r.phone for r in rows)  # each row holds its own message
    audited = Counter(outcome for outcome, _ in receipts_audited(db))
    # Twilio reports queued (the pool number chosen), sent and the outcome; never the initial `accepted`.
    assert audited == {"queued": 61, "sent": 61, "delivered": 60, "undelivered": 1}
    assert len(set(db.scalars(select(SmsReceipt.key)))) == 3 * 61


def test_join_and_stop_work_on_any_number_of_the_pool(settings, runtime, sandbox_client, db):
    with serving(settings, TWILIO_MESSAGING_SERVICE_SID=SERVICE) as live:
        sandbox_client.configure(inbound_url=f"{live.settings.PUBLIC_BASE_URL}/webhooks/twilio/sms")

        def text(body, to):
            return requests.post(f"{sandbox_client.url}/_sandbox/inbound", json={"from": "+15125551267",
                                 "body": body, "to": to}, timeout=30).json()

        joined = text("JOIN", POOL[1])
        assert joined["status"] == 200 and "you're subscribed" in joined["reply"]
        db.expire_all()
        assert db.scalar(select(Subscriber).where(Subscriber.phone == "+15125551267")).active
        stopped = text("STOP", POOL[2])
        assert stopped["status"] == 200 and "unsubscribed" in stopped["reply"]
    db.expire_all()
    subscriber = db.scalar(select(Subscriber).where(Subscriber.phone == "+15125551267"))
    assert not subscriber.active and subscriber.opt_out == "stop"
