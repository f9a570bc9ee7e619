"""Twilio webhooks: signed inbound keywords answered in TwiML, forged ones refused, status callbacks recorded."""
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

import config
from crisiscast import jobs
from crisiscast.jobs import worker
from crisiscast.jobs.queue import make_queue, redis_connection
from crisiscast.runtime import Runtime
from crisiscast.sending import sms_recipients
from crisiscast.sending.delivery import deliver
from crisiscast.sending import reconcile as reconcile_module
from crisiscast.sending.reconcile import CALLBACK_WAIT, reconcile
from crisiscast.sending.sms_recipients import Result
from crisiscast.services import delivery_receipts
from crisiscast.store.models import (AuditEvent, Delivery, InboundMessage, SmsReceipt, SmsRecipient, Subscriber,
                                     SubscriberList, utcnow)
from crisiscast.web import create_app
from tests.conftest import AuthActions
from tests.support import faultkit
from tests.support.faultkit import wait_until

INBOUND = "/webhooks/twilio/sms"


def signed_post(client, settings, path, params, signature=None):
    url = settings["PUBLIC_BASE_URL"] + path
    signature = signature or RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def text(client, settings, body, sender="+15125551267", sid=None, headers=None, **extra):
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid or "SM" + uuid.uuid4().hex,
              **extra}
    url = settings["PUBLIC_BASE_URL"] + INBOUND
    signature = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    return client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


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
def test_a_forged_or_missing_signature_is_refused_and_summarised(client, settings, db, runtime, signature):
    params = {"From": "+15125551267", "Body": "STOP"}
    headers = {"X-Twilio-Signature": signature} if signature else {}
    assert client.post(INBOUND, data=params, headers=headers).status_code == 403
    assert db.scalar(select(Subscriber)) is None
    runtime.refusals().flush(runtime.sessions, now=time.time() + 60)  # the minute closed
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "webhook_refused"))
    reason = "signature does not match" if signature else "missing signature"
    assert event.outcome == "refused" and event.message.endswith(f"tried: {INBOUND}: {reason}")


def test_a_signature_for_other_parameters_is_refused(client, settings, db):
    url = settings["PUBLIC_BASE_URL"] + INBOUND
    signature = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, {"From": "+1", "Body": "HI"})
    response = signed_post(client, settings, INBOUND, {"From": "+15125551267", "Body": "STOP"}, signature)
    assert response.status_code == 403


def replies(response) -> int:
    """How many texts Twilio would send for this TwiML answer."""
    return response.get_data(as_text=True).count("<Message>")


def subscriber(db, phone="+15125551267"):
    db.expire_all()
    return db.scalar(select(Subscriber).where(Subscriber.phone == phone))


@pytest.fixture
def app_with(settings, sandbox_client):
    """A client of an app (and the jobs' runtime) with some settings changed."""
    built = []

    def make(**changes):
        rt = Runtime(settings.replace(**changes))
        jobs.install(rt)
        built.append(rt)
        return create_app(rt.settings, rt).test_client()

    yield make
    jobs.install(None)
    for rt in built:
        rt.close()


@pytest.mark.parametrize("sender", ["+881631234567", "+2348031234567", "+8613812345678", "+18765551234"])
def test_join_from_outside_the_allowed_countries_subscribes_nothing_and_gets_no_reply(client, settings, db, sender):
    response = text(client, settings, "JOIN", sender=sender)
    assert response.status_code == 200 and replies(response) == 0
    assert subscriber(db, sender) is None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "inbound"))
    assert event.outcome == "refused" and sender not in event.target


def test_stop_works_from_any_country(client, settings, db, subscribe):
    subscribe("+2348031234567")
    assert replies(text(client, settings, "STOP", sender="+2348031234567")) == 0
    assert subscriber(db, "+2348031234567").opt_out == "stop" and not subscriber(db, "+2348031234567").active


def test_thirty_joins_in_a_burst_get_one_reply(client, settings, db):
    answers = [text(client, settings, "JOIN") for _ in range(30)]
    assert all(a.status_code == 200 for a in answers)
    assert sum(replies(a) for a in answers) == 1
    assert subscriber(db).active
    # Each message is kept once; the audit log gets the one that changed something, not the flood.
    assert db.scalar(select(func.count(InboundMessage.id))) == 30
    assert db.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.reply_state == "suppressed")) == 29
    assert db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "inbound")) == 1


def test_different_replies_are_capped_per_number(app_with, settings, db):
    client = app_with(SMS_REPLY_LIMIT=2)
    answers = [text(client, settings, body) for body in ("JOIN", "HELP", "what?", "HELP")]
    assert [replies(a) for a in answers] == [1, 1, 0, 0]
    assert replies(text(client, settings, "HELP", sender="+15125550188")) == 1  # another number has its own


def test_stop_applies_however_rate_limited(app_with, settings, db):
    client = app_with(SMS_REPLY_LIMIT=1)
    assert replies(text(client, settings, "JOIN")) == 1
    stopped = text(client, settings, "STOP")
    assert stopped.status_code == 200 and replies(stopped) == 0
    assert not subscriber(db).active and subscriber(db).opt_out == "stop"
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "inbound").order_by(AuditEvent.id)).all()[-1]
    assert event.outcome == "unsubscribed" and "reply suppressed" in event.message


def test_a_replayed_join_after_stop_leaves_the_number_opted_out(client, settings, db):
    join_sid = "SM" + uuid.uuid4().hex
    first = text(client, settings, "JOIN", sid=join_sid)
    text(client, settings, "STOP")
    replayed = text(client, settings, "JOIN", sid=join_sid)
    assert replayed.status_code == 200
    assert not subscriber(db).active and subscriber(db).opt_out == "stop"
    # Twilio retrying after a timeout gets the answer the first delivery got: nothing more is sent.
    assert replayed.get_data() == first.get_data()


def test_the_same_message_sid_twice_is_processed_once(client, settings, db):
    sid = "SM" + uuid.uuid4().hex
    answers = [text(client, settings, "JOIN public", sid=sid) for _ in range(2)]
    assert answers[0].get_data() == answers[1].get_data() and replies(answers[0]) == 1
    assert db.scalar(select(func.count(InboundMessage.id))) == 1
    assert db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "inbound")) == 1
    assert [lst.name for lst in subscriber(db).lists] == ["public"]


def test_twilios_idempotency_token_marks_a_retry(client, settings, db):
    token = {"I-Twilio-Idempotency-Token": "retry-" + uuid.uuid4().hex}
    text(client, settings, "JOIN", headers=token)
    text(client, settings, "STOP")
    text(client, settings, "JOIN", headers=token)  # the same webhook again, under another SID
    assert not subscriber(db).active


def test_a_keyword_join_records_consent_by_its_message(client, settings, db):
    sid = "SM" + uuid.uuid4().hex
    text(client, settings, "JOIN", sid=sid)
    joined = subscriber(db)
    assert (joined.consent_source, joined.consented_by) == ("keyword", f"text {sid}")
    assert joined.consented_at is not None


@pytest.mark.parametrize("sid", [None, "SM" + "0" * 63])
def test_an_inbound_message_without_a_usable_sid_is_refused(client, settings, db, sid):
    params = {"From": "+15125551267", "Body": "JOIN", **({"MessageSid": sid} if sid else {})}
    response = signed_post(client, settings, INBOUND, params)
    assert response.status_code == 400 and "MessageSid" in response.get_data(as_text=True)
    assert subscriber(db) is None


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


def callback(client, settings, sid, status, row=None, token=None, applied=True, **extra):
    """Post a signed status callback; then, unless `applied` is False, run the workers' receipts applier."""
    path = STATUS + (f"?r={row}" if row else "")
    headers = {"I-Twilio-Idempotency-Token": token} if token else {}
    params = {"MessageSid": sid, "MessageStatus": status, **extra}
    url = settings["PUBLIC_BASE_URL"] + path
    headers["X-Twilio-Signature"] = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    response = client.post(path, data=params, headers=headers)
    if applied:
        delivery_receipts.apply_waiting(client.application.extensions["crisiscast"].sessions)
    return response


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


def test_a_row_in_doubt_whose_receipt_waits_behind_a_lock_is_not_looked_up_or_resent(
        client, settings, db, runtime, queue, one_recipient, postgres_server):
    """The receipt proves Twilio has the message: while the applier cannot take the row (another transaction
    holds it), the reconciler must not judge the row by a lookup (which finds nothing here) and send again."""
    if not postgres_server:
        pytest.skip("SQLite has no row locks: its applier never skips a row")
    [(row, phone, _)] = claim_all(runtime, db, one_recipient)
    db.execute(update(SmsRecipient).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.commit()
    port = jobs.RQQueuePort(queue)
    assert reconcile(runtime.sessions, runtime.channels, port, grace=0).expired == 1
    sid = "SM" + "4" * 32
    callback(client, settings, sid, "delivered", row=row, To=phone, applied=False)
    holder = runtime.sessions()
    holder.execute(select(SmsRecipient).where(SmsRecipient.id == row).with_for_update())
    try:
        later = utcnow() + CALLBACK_WAIT * 2
        report = ThreadPoolExecutor(1).submit(reconcile, runtime.sessions, runtime.channels, port, grace=0,
                                              now=later).result(timeout=120)
        assert (report.receipts, report.found, report.resend) == (0, 0, 0)
    finally:
        holder.rollback()
        holder.close()
    report = reconcile(runtime.sessions, runtime.channels, port, grace=0, now=later)
    assert (report.receipts, report.resend) == (1, 0)
    db.expire_all()
    assert (db.get(SmsRecipient, row).state, db.get(SmsRecipient, row).provider_id) == ("sent", sid)


def test_a_row_is_not_made_pending_again_while_a_receipt_naming_it_waits(client, settings, db, runtime,
                                                                          one_recipient):
    """The receipt came while the reconciler was asking Twilio, whose list missed the message: the decision to
    send again checks, in the same UPDATE, that no kept receipt names the row."""
    [(row, phone, _)] = claim_all(runtime, db, one_recipient)
    db.execute(update(SmsRecipient).values(state="in_doubt", lease_until=utcnow() - timedelta(minutes=1)))
    db.commit()
    callback(client, settings, "SM" + "8" * 32, "sent", row=row, To=phone, applied=False)
    in_doubt = reconcile_module._InDoubt(row, phone, db.scalar(select(Delivery.update_id)), None, utcnow(), utcnow())
    assert reconcile_module._settle_in_doubt(runtime.sessions, in_doubt, None) is False
    db.expire_all()
    assert db.get(SmsRecipient, row).state == "in_doubt"
    assert delivery_receipts.apply_waiting(runtime.sessions) == 1
    db.expire_all()
    assert (db.get(SmsRecipient, row).state, db.get(SmsRecipient, row).provider_id) == ("sent", "SM" + "8" * 32)


def test_receipts_behind_locked_rows_do_not_hold_back_the_rest(client, settings, db, runtime, subscribe, publish,
                                                               postgres_server):
    if not postgres_server:
        pytest.skip("SQLite has no row locks: its applier never skips a row")
    subscribe(*(f"+1512555{i:04d}" for i in range(5)))
    plan_drill(publish, runtime)
    rows = db.scalars(select(SmsRecipient.id).order_by(SmsRecipient.id)).all()
    for n, row in enumerate(rows):
        callback(client, settings, f"SM{n:032d}", "sent", row=row, applied=False)
    holder = runtime.sessions()  # the two oldest receipts' rows, held as a worker recording them would
    holder.execute(select(SmsRecipient).where(SmsRecipient.id.in_(rows[:2])).with_for_update())
    try:
        applied = ThreadPoolExecutor(1).submit(delivery_receipts.apply_waiting, runtime.sessions,
                                               chunk=2).result(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert applied == 3
    assert delivery_receipts.apply_waiting(runtime.sessions, chunk=2) == 2
    assert statuses(db) == {"sent": 5}


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


def test_a_chunk_that_moves_a_message_to_its_own_row_then_meets_the_other_row_reads_it_afresh(
        client, settings, db, runtime, subscribe, publish):
    """In one chunk: a receipt takes a SID off the row the lookup gave it to, then that row's own receipt comes.
    The row, loaded before it gave the SID up, must not still be taken to hold it."""
    subscribe("+15125551267")
    wrong, _ = plan_drill(publish, runtime)
    plan_drill(publish, runtime)
    sid, its_own = "SM" + "6" * 32, "SM" + "7" * 32
    db.execute(update(SmsRecipient).where(SmsRecipient.id == wrong).values(state="sent", provider_id=sid))
    db.commit()
    own, phone = db.execute(select(SmsRecipient.id, SmsRecipient.phone).where(SmsRecipient.id != wrong)).one()
    callback(client, settings, sid, "delivered", row=own, To=phone, applied=False)
    callback(client, settings, its_own, "sent", row=wrong, To=phone, applied=False)
    assert delivery_receipts.apply_waiting(runtime.sessions) == 2
    db.expire_all()
    assert (db.get(SmsRecipient, own).provider_id, db.get(SmsRecipient, own).status) == (sid, "delivered")
    assert (db.get(SmsRecipient, wrong).provider_id, db.get(SmsRecipient, wrong).state) == (its_own, "sent")
    assert [o for o, _ in receipts_audited(db)] == ["delivered", "sent"]


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


def test_the_web_app_only_keeps_a_callback_and_a_workers_pass_applies_it_once(client, settings, db, runtime, queue,
                                                                             one_recipient):
    jobs.sms_batch_job(db.scalar(select(Delivery.id)), *one_recipient)
    sid = db.scalar(select(SmsRecipient.provider_id))
    for _ in range(2):  # Twilio retries a callback it got no answer for: the same token twice
        assert callback(client, settings, sid, "delivered", token="retry-1", applied=False).status_code == 204
    db.expire_all()
    assert db.scalar(select(SmsRecipient.status)) is None and receipts_audited(db) == []
    assert db.scalar(select(func.count(SmsReceipt.id)).where(SmsReceipt.waiting)) == 1
    assert worker.apply_receipts(runtime, queue) == 1
    assert worker.apply_receipts(runtime, queue) == 0
    db.expire_all()
    assert db.scalar(select(SmsRecipient.status)) == "delivered"
    assert receipts_audited(db) == [("delivered", sid)]


def test_two_appliers_at_once_apply_each_receipt_once(client, settings, db, runtime, subscribe, publish):
    """The workers take a lock, but a lapsed one lets two run: each claims its own receipts, none twice."""
    subscribe(*(f"+1512555{i:04d}" for i in range(120)))
    batch = plan_drill(publish, runtime)
    rows = db.scalars(select(SmsRecipient.id).order_by(SmsRecipient.id)).all()
    for n, row in enumerate(rows):
        for status in ("sent", "delivered"):
            callback(client, settings, f"SM{n:032d}", status, row=row, applied=False)
    barrier = threading.Barrier(2)

    def apply():
        barrier.wait()
        return delivery_receipts.apply_waiting(runtime.sessions, chunk=50)

    with ThreadPoolExecutor(2) as pool:
        applied = sum(pool.map(lambda _: apply(), range(2)))
    assert applied == 240 and len(rows) == 120 and batch
    assert statuses(db) == {"delivered": 120}
    assert Counter(o for o, _ in receipts_audited(db)) == {"sent": 120, "delivered": 120}


def test_an_applier_skips_a_row_a_worker_holds_and_applies_it_next_pass(client, settings, db, runtime,
                                                                        one_recipient, postgres_server):
    """A worker recording its sends holds many rows, in no set order: an applier that waited for one while
    holding others could deadlock with it, so it never waits."""
    if not postgres_server:
        pytest.skip("SQLite has no row locks: its one writer at a time cannot deadlock")
    jobs.sms_batch_job(db.scalar(select(Delivery.id)), *one_recipient)
    row, sid = db.execute(select(SmsRecipient.id, SmsRecipient.provider_id)).one()
    callback(client, settings, sid, "delivered", row=row, applied=False)
    worker_session = runtime.sessions()
    worker_session.execute(select(SmsRecipient).where(SmsRecipient.id == row).with_for_update())
    try:
        applied = ThreadPoolExecutor(1).submit(delivery_receipts.apply_waiting, runtime.sessions).result(timeout=60)
        assert applied == 0
        db.expire_all()
        assert db.scalar(select(SmsReceipt.waiting)) is True and receipts_audited(db) == []
    finally:
        worker_session.rollback()
        worker_session.close()
    assert delivery_receipts.apply_waiting(runtime.sessions) == 1
    assert receipts_audited(db) == [("delivered", sid)] and db.get(SmsRecipient, row).status == "delivered"


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
    """Serve the app (settings with `changes`) on a real port and install its runtime for jobs; beside it, the
    receipts applier a worker runs applies the callbacks the app keeps."""
    server = make_server("127.0.0.1", 0, None, threaded=True)
    live = config.Settings({**settings, **changes, "PUBLIC_BASE_URL": f"http://127.0.0.1:{server.server_port}"})
    runtime = Runtime(live)
    server.app = create_app(live, runtime)
    jobs.install(runtime)
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True),
               threading.Thread(target=worker.apply_receipts_forever, daemon=True,
                                args=(runtime, make_queue(live, redis_connection(live)), stop))]
    for thread in threads:
        thread.start()
    try:
        yield runtime
    finally:
        stop.set()
        server.shutdown()
        threads[1].join(30)
        runtime.close()


def test_receipts_from_the_sandbox_reach_the_update_page(live_app, sandbox_client, subscribe, publish, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=10)
    subscribe("+15125551267", "+15125550188", "+15005550030")
    drill = publish(channels=("sms",), lists=("public",), on=live_app)
    jobs.make_worker([queue], queue.connection).work(burst=True)
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
    jobs.make_worker([queue], queue.connection).work(burst=True)
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
    jobs.make_worker([queue], queue.connection).work(burst=True)
    assert [m["validity_period"] for m in sandbox_client.accepted("twilio")] == ["1800"]


def test_a_text_queued_at_twilio_past_its_validity_period_expires_and_says_so(settings, runtime, sandbox_client,
                                                                             subscribe, publish, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=10, queue_delay_ms=2500)  # a backlog at Twilio
    subscribe("+15125551267", "+15125550188")
    with serving(settings, SMS_VALIDITY_SECONDS=2) as live:
        drill = publish(channels=("sms",), lists=("public",), on=live)
        jobs.make_worker([queue], queue.connection).work(burst=True)
        wait_until(lambda: statuses(db) == {"failed": 2}, timeout=60, what=lambda: f"expiry receipts, {statuses(db)}")
        page = server_client(live).get(f"/updates/{drill.id}/deliveries").get_data(as_text=True)
    assert {m["validity_period"] for m in sandbox_client.accepted("twilio")} == {"2"}
    assert set(db.scalars(select(SmsRecipient.status_error_code))) == {"30036"}
    assert "error 30036" in page
