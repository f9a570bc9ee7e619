"""Twilio webhooks: signed inbound keywords answered in TwiML, forged ones refused, status callbacks recorded."""
import threading

import pytest
from rq import SimpleWorker
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

import config
from crisiscast import jobs, services
from crisiscast.delivery import deliver
from crisiscast.domain import Draft
from crisiscast.faultkit import wait_until
from crisiscast.models import AuditEvent, Delivery, SmsRecipient, Subscriber
from crisiscast.runtime import Runtime
from crisiscast.web import create_app

from ..conftest import AuthActions

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


def test_status_callback_moves_forward_never_back(client, settings, db, subscribe, runtime, users):
    subscribe("+15125551267")
    draft = Draft(incident="Drill", er_access="open", operating_status="normal", headline="Drill", channels=("sms",),
                  lists=("public",))
    result = services.publish(db, draft, uid=services.new_uid(), author=users["author"], settings=settings,
                              channels=runtime.channels, enqueue=lambda *a: None)
    outcome = deliver(runtime.sessions, runtime.channels, result.update.deliveries[0].id, runtime.retry_policy, 50)
    jobs.sms_batch_job(result.update.deliveries[0].id, *outcome.batches[0])
    sid = db.scalar(select(SmsRecipient.provider_id))
    for status in ("sent", "delivered", "sent"):
        assert signed_post(client, settings, "/webhooks/twilio/status",
                           {"MessageSid": sid, "MessageStatus": status}).status_code == 204
    db.expire_all()
    assert db.scalar(select(SmsRecipient.status)) == "delivered"
    outcomes = [e.outcome for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery_status")
                                               .order_by(AuditEvent.id))]
    assert outcomes == ["sent", "delivered", "sent"]


@pytest.fixture
def live_app(settings, runtime, sandbox_client):
    """The app on a real port, with PUBLIC_BASE_URL pointing at it, so the sandbox can call back.

    Its runtime replaces the default one for jobs run in this test (hence `runtime` first).
    """
    server = make_server("127.0.0.1", 0, None, threaded=True)
    live = config.Settings({**settings, "PUBLIC_BASE_URL": f"http://127.0.0.1:{server.server_port}"})
    runtime = Runtime(live)
    server.app = create_app(live, runtime)
    jobs.install(runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield runtime
    server.shutdown()
    runtime.close()


def test_receipts_from_the_sandbox_reach_the_update_page(live_app, sandbox_client, subscribe, users, db, queue):
    sandbox_client.configure(status_callbacks=True, status_delay_ms=10)
    subscribe("+15125551267", "+15125550188", "+15005550030")
    draft = Draft(incident="Drill", er_access="open", operating_status="normal", headline="Drill", channels=("sms",),
                  lists=("public",))
    result = services.publish(db, draft, uid=services.new_uid(), author=users["author"], settings=live_app.settings,
                              channels=live_app.channels, enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c))
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    def statuses():
        db.expire_all()
        return sorted(s or "" for s in db.scalars(select(SmsRecipient.status)))

    wait_until(lambda: statuses() == ["delivered", "delivered", "undelivered"], timeout=60,
               what=lambda: f"three receipts applied, {sandbox_client.stats()}")
    failed = db.scalar(select(SmsRecipient).where(SmsRecipient.status == "undelivered"))
    assert failed.status_error_code == "30003"
    client = server_client(live_app)
    page = client.get(f"/updates/{result.update.id}/deliveries").get_data(as_text=True)
    assert "Receipts: 2 delivered, 1 undelivered" in " ".join(page.split())
    assert "carrier reported undelivered (error 30003)" in page
    db.expire_all()  # the loop above may have matched before it ever refreshed the session
    assert db.get(Delivery, result.update.deliveries[0].id).state == "sent"


def server_client(runtime):
    client = create_app(runtime.settings, runtime).test_client()
    AuthActions(client).login("viewer")
    return client
