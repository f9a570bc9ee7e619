"""Twilio webhooks: signed inbound keywords answered in TwiML, forged ones refused, status callbacks recorded."""
import threading
from contextlib import contextmanager
import time
from collections import Counter
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

import config
from crisiscast import jobs
from crisiscast.runtime import Runtime
from crisiscast.sending import sms_recipients
from crisiscast.sending.delivery import deliver
from crisiscast.sending.reconcile import CALLBACK_WAIT, reconcile
from crisiscast.sending.sms_recipients import Result
from crisiscast.store.models import AuditEvent, Delivery, SmsReceipt, SmsRecipient, Subscriber, SubscriberList, utcnow
from crisiscast.web import create_app
from tests.conftest import AuthActions
from tests.support import faultkit
from tests.support.faultkit import wait_until

INBOUND = "/webhooks/twilio/sms"


def signed_post(client, settings, path, params, signature=None):
    url = settings["PUBLIC_BASE_URL"] + path
    signature = signature or RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def text(client, settings, body, sender="+15125551267", **extra):
    return signed_post(client, settings, INBOUND, {"From": sender, "To": "+15005550006", "Body": body,
                                                   "MessageSid": "SM" + "0" * 32, **extra})


def test_join_stop_help_through_the_signed_webhook(client, settings, db):
    joined = text(client, settings, "JOIN")
    assert joined.status_code == 200 and joined.mimetype == "application/xml"
    assert "<Response><Message>Scott &amp; White emergency alerts: you're subscribed" in joined.get_data(as_text=True)
    assert db.scalar(select(Subscriber)).active

    helped = text(client, settings, "help").get_data(as_text=True)
    assert "Reply STOP to cancel." in helped

    stopped = text(client, settings, "stop").get_data(as_text=True)
    assert "unsubscribed" in stopped
    db.expire_all()
    assert not db.scalar(select(Subscriber)).active


def test_advanced_opt_out_gets_an_empty_twiml_reply(client, settings, db):
    response = text(client, settings, "STOP", OptOutType="STOP")
    assert response.get_data(as_text=True).endswith("<Response />")


@pytest.mark.parametrize("signature", ["forged", ""])
def test_a_forged_or_missing_signature_is_refused_and_audited(client, settings, db, signature):
    params = {"From": "+15125551267", "Body": "STOP"}
    headers = {"X-Twilio-Signature": signature} if signature else {}
    assert client.post(INBOUND, data=params, headers=headers).status_code == 403
    assert db.scalar(select(Subscriber)) is None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "webhook_refused"))
    assert event.outcome == "refused" and INBOUND in event.message


def test_a_signature_for_other_parameters_is_refused(client, settings, db):
    url = settings["PUBLIC_BASE_URL"] + INBOUND
    signature = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, {"From": "+1", "Body": "HI"})
    response = signed_post(client, settings, INBOUND, {"From": "+15125551267", "Body": "STOP"}, signature)
    assert response.status_code == 403


STATUS = "/webhooks/twilio/status"


def plan_drill(publish, runtime):
    """An SMS update to the public list, its recipients planned and not sent: their (first, last) row ids."""
    drill = publish(channels=("sms",), lists=("public",), queued=False)
    outcome = deliver(runtime.delivery_context(sms_batch_size=50), drill.deliveries[0].id)
    return outcome.batches[0]


@pytest.fixture
def one_recipient(subscribe, runtime, publish):
    """An SMS delivery to +15125551267, planned and not sent: its recipient row."""
    subscribe("+15125551267")
    return plan_drill(publish, runtime)


def receipts_audited(db):
    db.expire_all()
    return [(e.outcome, e.provider_id) for e in db.scalars(select(AuditEvent).where(
        AuditEvent.action == "delivery_status").order_by(AuditEvent.id))]


def callback(client, settings, sid, status, row=None, token=None, **extra):
    path = STATUS + (f"?r={row}" if row else "")
    headers = {"I-Twilio-Idempotency-Token": token} if token else {}
    params = {"MessageSid": sid, "MessageStatus": status, **extra}
    url = settings["PUBLIC_BASE_URL"] + path
    headers["X-Twilio-Signature"] = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    return client.post(path, data=params, headers=headers)


def test_status_callback_moves_forward_never_back(client, settings, db, one_recipient):
    jobs.sms_batch_job(db.scalar(select(Delivery.id)), *one_recipient)
    sid = db.scalar(select(SmsRecipient.provider_id))
    for status in ("delivered", "sent"):  # Twilio's "sent" arrives late
        assert callback(client, settings, sid, status).status_code == 204
    db.expire_all()
    assert db.scalar(select(SmsRecipient.status)) == "delivered"
    assert receipts_audited(db) == [("delivered", sid), ("sent", sid)]
    stale = db.scalar(select(AuditEvent).where(AuditEvent.action == "delivery_status", AuditEvent.outcome == "sent"))
    assert stale.message == "arrived after delivered; kept delivered"


def test_a_replayed_callback_changes_nothing(client, settings, db, one_recipient):
    jobs.sms_batch_job(db.scalar(select(Delivery.id)), *one_recipient)
    row, sid = db.execute(select(SmsRecipient.id, SmsRecipient.provider_id)).one()
    for _ in range(3):
        assert callback(client, settings, sid, "sent", row=row, token="tok-sent").status_code == 204
        assert callback(client, settings, sid, "undelivered", row=row, ErrorCode="30003").status_code == 204
    assert receipts_audited(db) == [("sent", sid), ("undelivered", sid)]
    recipient = db.get(SmsRecipient, row)
    assert (recipient.status, recipient.status_error_code, recipient.state) == ("undelivered", "30003", "sent")


@pytest.mark.parametrize("status", ["bogus", "", "DELIVERED-ish"])
def test_a_status_twilio_does_not_document_is_refused(client, settings, db, one_recipient, status):
    response = callback(client, settings, "SM" + "1" * 32, status)
    assert response.status_code == 400 and "MessageStatus" in response.get_data(as_text=True)
    assert receipts_audited(db) == [] and db.scalar(select(func.count(SmsReceipt.id))) == 0


def test_a_callback_before_the_worker_stored_the_sid_credits_its_row(client, settings, db, runtime, one_recipient):
    [(row, phone, attempt)] = claim_all(runtime, db, one_recipient)  # the request is on the wire
    sid = "SM" + "2" * 32
    assert callback(client, settings, sid, "sent", row=row, To=phone).status_code == 204
    recipient = db.get(SmsRecipient, row)
    assert (recipient.state, recipient.provider_id, recipient.status) == ("sent", sid, "sent")
    # The worker's own answer (the same message, or no answer at all) does not undo what the receipt stored.
    for result in (Result(row, phone, "in_doubt", attempt, code="timeout"), Result(row, phone, "sent", attempt, sid)):
        sms_recipients.record(runtime.sessions, db.scalar(select(Delivery.update_id)), [result],
                              runtime.channels["sms"])
        db.expire_all()
        assert (db.get(SmsRecipient, row).state, db.get(SmsRecipient, row).provider_id) == ("sent", sid)
    assert receipts_audited(db) == [("sent", sid)]


def test_a_callback_resolves_its_row_in_doubt(client, settings, db, runtime, queue, one_recipient):
    [(row, phone, _)] = claim_all(runtime, db, one_recipient)
    db.execute(update(SmsRecipient).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert reconcile(runtime.sessions, runtime.channels, jobs.RQQueuePort(queue), grace=0).expired == 1
    sid = "SM" + "3" * 32
    assert callback(client, settings, sid, "delivered", row=row, To=phone).status_code == 204
    db.expire_all()
    recipient = db.get(SmsRecipient, row)
    assert (recipient.state, recipient.provider_id, recipient.status, recipient.error_code) == (
        "sent", sid, "delivered", None)
    report = reconcile(runtime.sessions, runtime.channels, jobs.RQQueuePort(queue), grace=0,
                       now=utcnow() + CALLBACK_WAIT * 2)
    assert (report.found, report.resend, report.settled) == (0, 0, 1)


def test_a_second_message_for_a_row_is_audited_and_changes_nothing(client, settings, db, one_recipient):
    jobs.sms_batch_job(db.scalar(select(Delivery.id)), *one_recipient)
    row, sid = db.execute(select(SmsRecipient.id, SmsRecipient.provider_id)).one()
    other = "SM" + "4" * 32
    assert callback(client, settings, other, "delivered", row=row).status_code == 204
    recipient = db.get(SmsRecipient, row)
    assert (recipient.provider_id, recipient.status) == (sid, None)
    second = db.scalar(select(AuditEvent).where(AuditEvent.action == "delivery_status"))
    assert (second.outcome, second.provider_id) == ("second", other) and sid in second.message


@pytest.mark.parametrize("proof", ["callback", "worker's answer"])
def test_a_message_the_lookup_gave_the_wrong_row_goes_to_its_own(client, settings, db, runtime, subscribe, publish,
                                                                 proof):
    subscribe("+15125551267")
    wrong, _ = plan_drill(publish, runtime)
    plan_drill(publish, runtime)  # a second update to the same number
    sid = "SM" + "6" * 32
    db.execute(update(SmsRecipient).where(SmsRecipient.id == wrong).values(state="sent", provider_id=sid))
    db.commit()  # the lookup credited the first update's row with it
    own, phone = db.execute(select(SmsRecipient.id, SmsRecipient.phone).where(SmsRecipient.id != wrong)).one()
    if proof == "callback":
        assert callback(client, settings, sid, "delivered", row=own, To=phone).status_code == 204
    else:
        update_id = db.scalar(select(Delivery.update_id).join(SmsRecipient).where(SmsRecipient.id == own))
        sms_recipients.record(runtime.sessions, update_id, [Result(own, phone, "sent", 1, sid)],
                              runtime.channels["sms"])
    db.expire_all()
    assert (db.get(SmsRecipient, own).state, db.get(SmsRecipient, own).provider_id) == ("sent", sid)
    assert (db.get(SmsRecipient, wrong).state, db.get(SmsRecipient, wrong).provider_id) == ("in_doubt", None)
    assert db.scalar(select(AuditEvent.message).where(AuditEvent.action == "reconcile")) == (
        "its message belongs to another recipient row: asking Twilio again")


def test_a_callback_for_a_sid_not_stored_yet_waits_then_applies(client, settings, db, runtime, queue, one_recipient):
    [(row, phone, attempt)] = claim_all(runtime, db, one_recipient)
    sid = "SM" + "5" * 32
    assert callback(client, settings, sid, "delivered").status_code == 204  # no row named: an older send's URL
    assert receipts_audited(db) == []
    assert db.scalar(select(SmsReceipt.waiting)) is True
    sms_recipients.record(runtime.sessions, db.scalar(select(Delivery.update_id)),
                          [Result(row, phone, "sent", attempt, sid)], runtime.channels["sms"])
    assert reconcile(runtime.sessions, runtime.channels, jobs.RQQueuePort(queue), grace=0).receipts == 1
    db.expire_all()
    assert db.get(SmsRecipient, row).status == "delivered"
    assert receipts_audited(db) == [("delivered", sid)]
    assert db.scalar(select(SmsReceipt.waiting)) is False


def claim_all(runtime, db, batch):
    delivery_id, update_id = db.execute(select(Delivery.id, Delivery.update_id)).one()
    return sms_recipients.claim(runtime.sessions, delivery_id, update_id, batch, 100, 120)


@pytest.fixture
def live_app(settings, runtime, sandbox_client):
    """The app on a real port, with PUBLIC_BASE_URL pointing at it, so the sandbox can call back.

    Its runtime replaces the default one for jobs run in this test (hence `runtime` first).
    """
    with serving(settings) as live:
        yield live


@contextmanager
def serving(settings, **changes):
    """Serve the app (settings with `changes`) on a real port and install its runtime for jobs."""
    server = make_server("127.0.0.1", 0, None, threaded=True)
    live = config.Settings({**settings, **changes, "PUBLIC_BASE_URL": f"http://127.0.0.1:{server.server_port}"})
    runtime = Runtime(live)
    server.app = create_app(live, runtime)
    jobs.install(runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield runtime
    finally:
        server.shutdown()
        runtime.close()


def test_receipts_from_the_sandbox_reach_the_update_page(live_app, sandbox_client, subscribe, publish, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=10)
    subscribe("+15125551267", "+15125550188", "+15005550030")
    drill = publish(channels=("sms",), lists=("public",), on=live_app)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    def statuses():
        db.expire_all()
        return sorted(s or "" for s in db.scalars(select(SmsRecipient.status)))

    wait_until(lambda: statuses() == ["delivered", "delivered", "undelivered"], timeout=60,
               what=lambda: f"three receipts applied, {sandbox_client.stats()}")
    failed = db.scalar(select(SmsRecipient).where(SmsRecipient.status == "undelivered"))
    assert failed.status_error_code == "30003"
    client = server_client(live_app)
    page = client.get(f"/updates/{drill.id}/deliveries").get_data(as_text=True)
    assert "Receipts: 2 delivered, 1 undelivered" in " ".join(page.split())
    assert "carrier reported undelivered (error 30003)" in page
    db.expire_all()  # the loop above may have matched before it ever refreshed the session
    assert db.get(Delivery, drill.deliveries[0].id).state == "sent"


def test_every_receipt_of_a_fan_out_reaches_its_row_with_no_delay(live_app, sandbox_client, publish, db, queue):
    """Callbacks posted the moment Twilio accepts a message race the worker's write of its SID: none is lost."""
    sandbox_client.configure(status_callbacks=True, status_delay_ms=0)
    numbers = faultkit.add_subscribers(db, 300) + ["+15005550030", "+15005550031"]
    db.add_all([Subscriber(phone=n, lists=[db.get(SubscriberList, 1)]) for n in numbers[-2:]])
    db.commit()
    publish(channels=("sms",), lists=("public",), on=live_app)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    final = {"delivered": 300, "undelivered": 1, "failed": 1}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and statuses(db) != final:
        time.sleep(0.1)
    assert statuses(db) == final, sandbox_client.stats()["counters"]
    assert db.scalar(select(func.count(SmsRecipient.id)).where(SmsRecipient.state != "sent")) == 0
    audited = Counter(o for o, _ in receipts_audited(db))
    assert audited == {"sent": 302, "delivered": 300, "undelivered": 1, "failed": 1}  # each callback once
    assert db.scalar(select(func.count(SmsReceipt.id)).where(SmsReceipt.waiting)) == 0
    keys = db.scalars(select(SmsReceipt.key)).all()
    assert len(set(keys)) == 604 and not any(k.startswith("sha256:") for k in keys)  # Twilio's tokens, kept


def statuses(db):
    db.expire_all()
    return dict(Counter(db.scalars(select(SmsRecipient.status))))


def server_client(runtime):
    client = create_app(runtime.settings, runtime).test_client()
    AuthActions(client).login("viewer")
    return client


def test_every_text_carries_the_default_validity_period(live_app, sandbox_client, subscribe, publish, queue):
    subscribe("+15125551267")
    publish(channels=("sms",), lists=("public",), on=live_app)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert [m["validity_period"] for m in sandbox_client.accepted("twilio")] == ["1800"]


def test_a_text_queued_at_twilio_past_its_validity_period_expires_and_says_so(settings, runtime, sandbox_client,
                                                                             subscribe, publish, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=10, queue_delay_ms=2500)  # a backlog at Twilio
    subscribe("+15125551267", "+15125550188")
    with serving(settings, SMS_VALIDITY_SECONDS=2) as live:
        drill = publish(channels=("sms",), lists=("public",), on=live)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        wait_until(lambda: statuses(db) == {"failed": 2}, timeout=60, what=lambda: f"expiry receipts, {statuses(db)}")
        page = server_client(live).get(f"/updates/{drill.id}/deliveries").get_data(as_text=True)
    assert {m["validity_period"] for m in sandbox_client.accepted("twilio")} == {"2"}
    assert set(db.scalars(select(SmsRecipient.status_error_code))) == {"30036"}
    assert "error 30036" in page
