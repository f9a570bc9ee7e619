"""Retraction and correction reach every channel: posts deleted, texts told, replies and edits, all tracked."""
import pytest

from sqlalchemy import select

from crisiscast.core.domain import Draft
from crisiscast.services import subscribers
from crisiscast.store.models import AuditEvent, Delivery
from tests.conftest import csrf_token

EVERYWHERE = Draft(incident="Flood", er_access="closed", operating_status="evacuating",
                   headline="Evacuating the north tower", channels=("sms", "x", "facebook", "feed"),
                   lists=("public",))


def states(db, update):
    db.expire_all()
    return {d.channel: d.state for d in db.scalars(select(Delivery).where(Delivery.update_id == update.id))}


def retract(client, update, text_recipients=False):
    form = {"reason": "Sent in error", "csrf_token": csrf_token(client, f"/updates/{update.id}")}
    if text_recipients:
        form["text_recipients"] = "1"
    return client.post(f"/updates/{update.id}/retract", data=form)


def test_a_retraction_deletes_the_posts_and_tells_who_got_the_text(db, client, auth, publish, drain, subscribe,
                                                                  sandbox_client):
    subscribe("+15125551267", "+15125550188")
    update = publish(EVERYWHERE)
    drain()
    db.expire_all()
    posted = {d.channel: d.provider_id for d in db.scalars(select(Delivery).where(Delivery.update_id == update.id))}
    auth.login("author")
    page = client.get(f"/updates/{update.id}").get_data(as_text=True)
    assert "Also text the 2 people who received it" in page

    response = retract(client, update, text_recipients=True)
    assert response.status_code == 302
    drain()

    assert states(db, update) == {"sms": "sent", "x": "sent", "facebook": "sent", "feed": "sent",
                                  "x.delete": "sent", "facebook.delete": "sent", "sms.notice": "sent"}
    assert [r["id"] for r in sandbox_client.accepted("x") if r["kind"] == "delete"] == [posted["x"]]
    assert [r["id"] for r in sandbox_client.accepted("graph") if r["kind"] == "delete"] == [posted["facebook"]]
    notices = [m for m in sandbox_client.accepted("twilio") if "disregard" in m["body"]]
    assert sorted(m["to"] for m in notices) == ["+15125550188", "+15125551267"]
    assert notices[0]["body"].startswith('Scott & White: please disregard our earlier message "Evacuating the north')
    sends = db.scalars(select(AuditEvent).where(AuditEvent.update_id == update.id, AuditEvent.action == "send",
                                                AuditEvent.channel.in_(["x.delete", "facebook.delete"]))).all()
    assert sorted((e.channel, e.outcome) for e in sends) == [("facebook.delete", "sent"), ("x.delete", "sent")]


def test_the_notice_goes_only_to_those_who_got_it_and_are_still_subscribed(db, client, auth, publish, drain,
                                                                         subscribe, sandbox_client):
    subscribe("+15125551267", "+15125550188", "+15125550199")
    update = publish(EVERYWHERE, channels=("sms",))
    drain()
    subscribers.opt_out(db, "+15125550188")
    db.commit()
    subscribe("+15125550111")  # joined after: never got the original
    auth.login("author")
    assert "Also text the 2 people" in client.get(f"/updates/{update.id}").get_data(as_text=True)
    retract(client, update, text_recipients=True)
    drain()
    notices = [m["to"] for m in sandbox_client.accepted("twilio") if "disregard" in m["body"]]
    assert sorted(notices) == ["+15125550199", "+15125551267"]


def test_a_post_still_waiting_to_go_out_is_stopped_not_deleted(db, client, auth, publish, drain, sandbox_client):
    update = publish(EVERYWHERE, channels=("x", "facebook"), queued=False)
    auth.login("author")
    retract(client, update)
    drain()
    assert states(db, update) == {"x": "skipped", "facebook": "skipped"}
    assert sandbox_client.accepted("x") == [] and sandbox_client.accepted("graph") == []


def test_a_failed_delete_stays_visible_and_retryable(db, client, auth, publish, drain, sandbox_client, settings):
    update = publish(EVERYWHERE, channels=("x",))
    drain()
    auth.login("author")
    sandbox_client.configure(script={"x": ["permanent"]})
    retract(client, update)
    drain()
    assert states(db, update)["x.delete"] == "failed"
    page = client.get(f"/updates/{update.id}").get_data(as_text=True)
    assert "X: delete the post" in page and "Retry" in page
    delete = db.scalar(select(Delivery).where(Delivery.channel == "x.delete"))
    token = csrf_token(client, f"/updates/{update.id}")
    assert client.post(f"/deliveries/{delete.id}/retry", data={"csrf_token": token}).status_code == 302
    drain()
    assert states(db, update)["x.delete"] == "sent"
    assert len([r for r in sandbox_client.accepted("x") if r["kind"] == "delete"]) == 1


def test_a_correction_replies_on_x_and_edits_the_facebook_post(db, publish, drain, sandbox_client):
    original = publish(EVERYWHERE, channels=("x", "facebook"))
    drain()
    db.expire_all()
    posted = {d.channel: d.provider_id for d in original.deliveries}
    correction = publish(EVERYWHERE, channels=("x", "facebook"), corrects=original.uid,
                         headline="Evacuating the south tower, not the north")
    drain()
    [reply] = [r for r in sandbox_client.accepted("x") if r["kind"] == "post" and r.get("reply_to")]
    assert reply["reply_to"] == posted["x"] and reply["text"].startswith("Evacuating the south tower")
    [edit] = [r for r in sandbox_client.accepted("graph") if r["kind"] == "edit"]
    assert edit["id"] == posted["facebook"] and edit["message"].startswith("Evacuating the south tower")
    assert len([r for r in sandbox_client.accepted("graph") if r["kind"] == "post"]) == 1
    db.expire_all()
    assert {d.channel: d.state for d in db.scalars(select(Delivery).where(Delivery.update_id == correction.id))} \
        == {"x": "sent", "facebook": "sent"}


def test_a_correction_facebook_will_not_edit_is_posted_as_a_new_post(db, publish, drain, sandbox_client):
    import requests

    original = publish(EVERYWHERE, channels=("facebook",))
    drain()
    db.expire_all()
    post_id = original.deliveries[0].provider_id
    requests.delete(f"{sandbox_client.url}/v19.0/{post_id}", params={"access_token": "sandbox-page-token"}, timeout=5)
    publish(EVERYWHERE, channels=("facebook",), corrects=original.uid, headline="Corrected headline")
    drain()
    posts = [r for r in sandbox_client.accepted("graph") if r["kind"] == "post"]
    assert len(posts) == 2 and posts[1]["message"].startswith("Corrected headline") and posts[1]["link"]


def test_a_text_still_in_the_queue_when_retracted_is_never_sent(db, client, auth, publish, drain, subscribe,
                                                                sandbox_client):
    subscribe("+15125551267", "+15125550188")
    update = publish(EVERYWHERE, channels=("sms", "x"))  # queued, not yet picked up by a worker
    auth.login("author")
    retract(client, update)
    drain()
    assert states(db, update) == {"sms": "skipped", "x": "skipped"}
    assert sandbox_client.accepted("twilio") == [] and sandbox_client.accepted("x") == []


def test_texts_planned_before_a_retraction_committed_are_cancelled_not_sent(db, runtime, publish):
    from sqlalchemy import func, update as sql_update

    from crisiscast.sending import sms_plan, sms_recipients
    from crisiscast.store.models import SmsRecipient, Update, utcnow
    from tests.support import faultkit

    faultkit.add_subscribers(db, 10)
    update = publish(EVERYWHERE, channels=("sms",), queued=False)
    sms = update.deliveries[0]
    sms_plan.plan(runtime.sessions, sms.id, ["public"], 100)
    # As if the plan committed just after the retraction's own cancellation ran (PostgreSQL, two workers).
    db.execute(sql_update(Update).where(Update.id == update.id).values(retracted_at=utcnow(), retraction_reason="x"))
    db.commit()
    first, last = db.execute(select(func.min(SmsRecipient.id), func.max(SmsRecipient.id))).one()
    assert sms_recipients.claim(runtime.sessions, sms.id, update.id, (first, last), 100, 120) == []
    db.expire_all()
    assert set(db.scalars(select(SmsRecipient.error_code))) == {"retracted"}


def test_a_retracted_updates_post_is_never_sent_again(db, client, auth, publish, drain, sandbox_client):
    from sqlalchemy import update as sql_update

    from crisiscast.core.domain import ValidationError
    from crisiscast.services import publishing
    from crisiscast.sending.delivery import deliver

    update = publish(EVERYWHERE, channels=("x",))
    sandbox_client.configure(script={"x": ["permanent"]})
    drain()
    auth.login("author")
    retract(client, update)
    drain()
    db.expire_all()
    post = db.scalar(select(Delivery).where(Delivery.update_id == update.id, Delivery.channel == "x"))
    assert post.state == "failed"
    with pytest.raises(ValidationError):
        publishing.retry_delivery(db, post.id, "author", lambda *a: None)
    assert "Retry X</button>" not in client.get(f"/updates/{update.id}").get_data(as_text=True)
    # The reconciler's "not found: send again" puts a post back to pending: the worker still never sends it.
    db.execute(sql_update(Delivery).where(Delivery.id == post.id).values(state="pending"))
    db.commit()
    deliver(client.application.extensions["crisiscast"].delivery_context(), post.id)
    assert states(db, update)["x"] == "skipped"
    assert [r for r in sandbox_client.accepted("x") if r["kind"] == "post"] == []


def test_retracting_a_correction_takes_down_every_version_of_the_story(db, client, auth, publish, drain,
                                                                      sandbox_client):
    original = publish(EVERYWHERE, channels=("x",))
    drain()
    correction = publish(EVERYWHERE, channels=("x",), corrects=original.uid, headline="South tower, not north")
    drain()
    auth.login("author")
    retract(client, correction)
    drain()
    deleted = sorted(r["id"] for r in sandbox_client.accepted("x") if r["kind"] == "delete")
    posted = sorted(r["id"] for r in sandbox_client.accepted("x") if r["kind"] == "post")
    assert deleted == posted and len(deleted) == 2


def test_a_delete_waiting_for_its_post_to_settle_uses_no_attempt(db, runtime, publish, client, auth):
    from sqlalchemy import update as sql_update

    from crisiscast.sending.delivery import deliver

    update = publish(EVERYWHERE, channels=("x",), queued=False)
    post = update.deliveries[0]
    db.execute(sql_update(Delivery).where(Delivery.id == post.id).values(state="in_doubt"))
    db.commit()
    auth.login("author")
    retract(client, update)
    delete = db.scalar(select(Delivery).where(Delivery.channel == "x.delete"))
    for _ in range(8):  # more than RETRY_MAX_ATTEMPTS tries: none counts, so it never gives up
        db.execute(sql_update(Delivery).where(Delivery.id == delete.id).values(state="pending"))
        db.commit()
        deliver(runtime.delivery_context(), delete.id)
    db.expire_all()
    waiting = db.get(Delivery, delete.id)
    assert (waiting.state, waiting.attempts, waiting.error_code) == ("pending", 0, "waiting")
