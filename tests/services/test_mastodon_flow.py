"""Mastodon end to end: the composer, publish through a real RQ worker, a correction as a reply, a retraction's
delete, and a post in doubt after a worker killed mid-send found by the reconciler before any resend."""
import re

import pytest
from sqlalchemy import select

import config
from crisiscast.core.domain import Draft
from crisiscast.runtime import Runtime
from crisiscast.store.models import AuditEvent, Delivery
from crisiscast.web import create_app
from tests.conftest import csrf_token
from tests.support import faultkit
from tests.web.test_console import compose_form, preview_then_publish

STORM = Draft(incident="Ice storm", er_access="open_delays", operating_status="limited",
              headline="ER open with delays", body="Roads are icy: come only if you must.",
              channels=("mastodon", "x"))


def statuses(sandbox_client, kind="post") -> list[dict]:
    return [r for r in sandbox_client.accepted("mastodon") if r["kind"] == kind]


def delivery(db, update, channel="mastodon") -> Delivery:
    db.expire_all()
    return db.scalar(select(Delivery).where(Delivery.update_id == update.id, Delivery.channel == channel))


def test_publish_posts_one_public_status_keyed_by_its_delivery(db, publish, drain, sandbox_client):
    update = publish(STORM)
    assert update.audience == "public"
    drain()
    [status] = statuses(sandbox_client)
    sent = delivery(db, update)
    assert (sent.state, sent.provider_id, sent.target) == ("sent", status["id"], f"account on {sandbox_client.url[7:]}")
    assert status["idempotency_key"] == f"crisiscast-{update.uid}-mastodon-post"
    assert status["visibility"] == "public" and status["text"].endswith(f"/u/{update.uid}")


def test_a_correction_replies_and_a_retraction_deletes_every_version(db, client, auth, publish, drain,
                                                                     sandbox_client):
    original = publish(STORM)
    drain()
    correction = publish(STORM, corrects=original.uid, headline="ER open; the west entrance is closed")
    drain()
    first, reply = statuses(sandbox_client)
    assert reply["reply_to"] == first["id"] == delivery(db, original).provider_id
    assert reply["text"].startswith("ER open; the west entrance is closed")
    auth.login("author")
    form = {"reason": "Sent in error", "csrf_token": csrf_token(client, f"/updates/{correction.id}")}
    assert client.post(f"/updates/{correction.id}/retract", data=form).status_code == 302
    drain()
    assert sorted(r["id"] for r in statuses(sandbox_client, "delete")) == sorted([first["id"], reply["id"]])
    assert delivery(db, correction, "mastodon.delete").state == "sent"


def test_the_composer_offers_mastodon_with_a_preview_and_a_counter(client, auth, sandbox_client):
    sandbox_client.configure(mastodon_max_characters=1000)
    auth.login("author")
    page = client.get("/updates/new").get_data(as_text=True)
    assert re.search(r'value="mastodon"\s+(checked\s*)?>', page) and "Mastodon <span" in page
    form = compose_form(client, channels=["mastodon"])
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert 'data-channel="mastodon"' in preview
    assert re.search(r"\d+ of this instance's 1000 characters", preview)
    assert re.search(r"Mastodon <span class=\"\">\d+/1000</span>", preview)


def test_mastodon_without_its_settings_is_not_configured_and_skipped(settings, sandbox_client, users):
    rt = Runtime(config.Settings({**settings, "MASTODON_ACCESS_TOKEN": ""}))
    client = create_app(rt.settings, rt).test_client()
    client.post("/login", data={"username": "author", "password": "correct horse battery",
                                "csrf_token": csrf_token(client, "/login")})
    page = client.get("/updates/new").get_data(as_text=True)
    assert re.search(r'value="mastodon"\s+disabled', page) and "set MASTODON_ACCESS_TOKEN" in page
    assert preview_then_publish(client, compose_form(client, channels=["mastodon", "feed"])).status_code == 302
    with rt.sessions() as session:
        skipped = session.scalar(select(Delivery).where(Delivery.channel == "mastodon"))
        assert (skipped.state, skipped.error_code) == ("skipped", "not_configured")
    rt.close()
    assert statuses(sandbox_client) == []


@pytest.fixture
def pool(settings, tmp_path):
    # The provider answers nothing for 60 s and the worker waits 30: the kill lands while the post is on the wire.
    workers = faultkit.WorkerPool(settings, FAULTKIT_LOG=tmp_path / "workers.log", CLAIM_LEASE_SECONDS=3,
                                  RECONCILE_SECONDS=1, RECONCILE_GRACE_SECONDS=1, PROVIDER_TIMEOUT=30)
    yield workers
    workers.stop()


def test_a_worker_killed_mid_post_is_found_by_the_lookup_not_posted_again(runtime, db, publish, pool,
                                                                         sandbox_client):
    assert runtime.channels["mastodon"].max_characters() == 500  # publish asks the instance first; then the post
    sandbox_client.configure(timeout_seconds=60, script={"mastodon": ["lost"]})
    pool.start(1)
    update = publish(STORM, channels=("mastodon",))
    faultkit.wait_until(lambda: statuses(sandbox_client), 60, what="the instance stored the status")
    assert pool.kill9() == 1
    assert delivery(db, update).state == "sending"
    pool.start(1)
    faultkit.wait_settled(runtime.sessions, timeout=120)
    [status] = statuses(sandbox_client)
    assert (delivery(db, update).state, delivery(db, update).provider_id) == ("sent", status["id"])
    found = db.scalars(select(AuditEvent.message).where(AuditEvent.action == "reconcile",
                                                        AuditEvent.channel == "mastodon")).all()
    assert "found at Mastodon after no answer" in found
