"""A newer update of an incident cancels the older one's unsent texts to the people it reaches, and only those."""
from sqlalchemy import func, select

from crisiscast.core.domain import Draft
from crisiscast.sending import sms_plan, sms_recipients
from crisiscast.store.models import AuditEvent, Delivery, SmsRecipient
from tests.support import faultkit

SMS = Draft(incident="Flood", er_access="diversion", operating_status="limited", headline="ER on diversion",
            channels=("sms",), lists=("public",))


def sms_of(update):
    return next(d for d in update.deliveries if d.channel == "sms")


def states(db, delivery):
    db.expire_all()
    return dict(db.execute(select(SmsRecipient.state, func.count()).where(SmsRecipient.delivery_id == delivery.id)
                           .group_by(SmsRecipient.state)).all())


def test_a_newer_update_cancels_the_older_ones_pending_texts_but_not_those_in_flight(db, runtime, publish):
    faultkit.add_subscribers(db, 30)
    older = publish(SMS, queued=False)
    sms_plan.plan(runtime.sessions, sms_of(older).id, ["public"], 100)
    first, last = db.execute(select(func.min(SmsRecipient.id), func.max(SmsRecipient.id))).one()
    in_flight = sms_recipients.claim(runtime.sessions, sms_of(older).id, older.id, (first, last), 5, 120)

    publish(SMS, queued=False, headline="ER open again", er_access="open", operating_status="normal")

    assert states(db, sms_of(older)) == {"sending": 5, "cancelled": 25}
    assert {r.error_code for r in db.scalars(select(SmsRecipient).where(SmsRecipient.state == "cancelled"))} \
        == {"superseded"}
    assert len(in_flight) == 5
    audited = db.scalars(select(AuditEvent).where(AuditEvent.error_code == "superseded")).all()
    assert len(audited) == 25 and {e.update_id for e in audited} == {older.id}
    assert all("••" in e.target and e.actor == "author" for e in audited)


def test_the_author_can_let_the_older_texts_finish(db, runtime, publish):
    faultkit.add_subscribers(db, 10)
    older = publish(SMS, queued=False)
    sms_plan.plan(runtime.sessions, sms_of(older).id, ["public"], 100)
    publish(SMS, queued=False, headline="ER open again", keep_earlier=True)
    assert states(db, sms_of(older)) == {"pending": 10}


def test_only_the_people_the_newer_update_reaches_are_cancelled(db, runtime, publish, subscribe):
    faultkit.add_subscribers(db, 10)
    subscribe("+15125550100", lists=("public", "staff-on-call"))
    older = publish(SMS, queued=False)
    sms_plan.plan(runtime.sessions, sms_of(older).id, ["public"], 100)
    publish(SMS, queued=False, headline="Staff: report to labor pool", lists=("staff-on-call",))
    assert states(db, sms_of(older)) == {"pending": 10, "cancelled": 1}


def test_an_older_update_still_waiting_in_the_queue_sends_nothing_the_newer_one_sends(db, publish, drain,
                                                                                      sandbox_client):
    faultkit.add_subscribers(db, 20)
    older = publish(SMS)
    newer = publish(SMS, headline="ER open again", er_access="open", operating_status="normal")
    drain()
    texts = sandbox_client.accepted("twilio")
    assert len(texts) == 20 and all(t["body"].startswith("Scott & White: ER open again") for t in texts)
    db.expire_all()
    assert db.get(Delivery, sms_of(older).id).state == "skipped"
    assert "20 superseded" in db.get(Delivery, sms_of(older).id).error_message
    assert db.get(Delivery, sms_of(newer).id).state == "sent"


def test_the_update_page_says_how_many_were_superseded(db, runtime, publish, client, auth):
    faultkit.add_subscribers(db, 4)
    older = publish(SMS, queued=False)
    sms_plan.plan(runtime.sessions, sms_of(older).id, ["public"], 100)
    publish(SMS, queued=False, headline="ER open again")
    auth.login("viewer")
    page = client.get(f"/updates/{older.id}").get_data(as_text=True)
    assert "Not sent: 4 superseded by a newer update" in page
