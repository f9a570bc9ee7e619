"""Bluesky end to end through real RQ workers: publish, a correction's reply, a retraction's delete, and a post in
doubt after its worker was killed with kill -9, looked up before anything is sent again."""
import pytest
from sqlalchemy import select

from crisiscast.core.domain import Draft
from crisiscast.store.models import AuditEvent, Delivery
from tests.conftest import csrf_token
from tests.sending.test_faults import FAST_RECOVERY, publish_everything
from tests.support import faultkit

DRAFT = Draft(incident="Flood", er_access="closed", operating_status="evacuating", headline="Evacuating the north tower",
              body="Families: use the south entrance 👨‍👩‍👧 and follow the signs.", channels=("bluesky",))


def posts(sandbox_client) -> list[dict]:
    return [r for r in sandbox_client.accepted("bluesky") if r["kind"] == "post"]


def delivery(db, update, channel="bluesky") -> Delivery:
    db.expire_all()
    return db.scalar(select(Delivery).where(Delivery.update_id == update.id, Delivery.channel == channel))


def test_published_updates_go_out_with_the_link_clickable_on_one_session(db, publish, drain, sandbox_client, settings):
    updates = [publish(DRAFT, headline=f"Evacuating the north tower ({i})") for i in range(3)]
    drain()
    sent = [delivery(db, u) for u in updates]
    assert [d.state for d in sent] == ["sent"] * 3
    assert [d.provider_id for d in sent] == [p["id"] for p in posts(sandbox_client)]
    record = posts(sandbox_client)[0]["value"]
    link = f"{settings.PUBLIC_BASE_URL}/u/{updates[0].uid}"
    [facet] = record["facets"]
    assert record["text"].encode()[facet["index"]["byteStart"]:facet["index"]["byteEnd"]].decode() == link
    assert record["embed"]["external"]["uri"] == link and record["embed"]["external"]["title"].startswith("Evacuating")
    assert sandbox_client.stats()["counters"]["bluesky.create_session"] == 1
    audited = db.scalars(select(AuditEvent).where(AuditEvent.channel == "bluesky", AuditEvent.action == "send")).all()
    assert {(e.outcome, e.target) for e in audited} == {("sent", "@sandbox-hospital.bsky.social")}
    assert not any(settings.BLUESKY_APP_PASSWORD in (e.message or "") for e in db.scalars(select(AuditEvent)))


def test_a_correction_is_a_reply_under_the_original(db, publish, drain, sandbox_client):
    original = publish(DRAFT)
    drain()
    first = publish(DRAFT, corrects=original.uid, headline="Evacuating the south tower, not the north")
    drain()
    publish(DRAFT, corrects=first.uid, headline="Evacuation over")
    drain()
    root, reply, second = posts(sandbox_client)
    assert reply["value"]["reply"]["parent"] == reply["value"]["reply"]["root"] == {
        "$type": "com.atproto.repo.strongRef", "uri": root["id"], "cid": root["cid"]}
    assert (second["value"]["reply"]["root"]["uri"], second["value"]["reply"]["parent"]["uri"]) == \
        (root["id"], reply["id"])
    assert delivery(db, first).provider_id == reply["id"]


def test_a_retraction_deletes_the_post(db, client, auth, publish, drain, sandbox_client):
    update = publish(DRAFT, channels=("bluesky", "x"))
    drain()
    posted = delivery(db, update).provider_id
    auth.login("author")
    form = {"reason": "Sent in error", "csrf_token": csrf_token(client, f"/updates/{update.id}")}
    assert client.post(f"/updates/{update.id}/retract", data=form).status_code == 302
    drain()
    assert delivery(db, update, "bluesky.delete").state == "sent"
    assert [r["id"] for r in sandbox_client.accepted("bluesky") if r["kind"] == "delete"] == [posted]
    assert "Bluesky: delete the post" in client.get(f"/updates/{update.id}").get_data(as_text=True)


def test_a_post_waiting_when_retracted_is_stopped_not_sent(db, client, auth, publish, drain, sandbox_client):
    update = publish(DRAFT, queued=False)
    auth.login("author")
    form = {"reason": "Sent in error", "csrf_token": csrf_token(client, f"/updates/{update.id}")}
    client.post(f"/updates/{update.id}/retract", data=form)
    drain()
    assert delivery(db, update).state == "skipped" and posts(sandbox_client) == []


@pytest.fixture
def pool(settings, tmp_path):
    # The worker waits for the PDS far longer than the lease: it is killed with its request on the wire.
    workers = faultkit.WorkerPool(settings, FAULTKIT_LOG=tmp_path / "workers.log", **{**FAST_RECOVERY,
                                                                                    "PROVIDER_TIMEOUT": 60})
    yield workers
    workers.stop()


@pytest.mark.parametrize("fault, outcome", [("lost", "found"), ("timeout", "resent")])
def test_a_worker_killed_mid_post_leaves_it_in_doubt_and_it_is_looked_up_first(
        runtime, users, queue, pool, sandbox_client, fault, outcome):
    """lost: the PDS created the post and the answer never came; timeout: the request never got to it."""
    sandbox_client.configure(timeout_seconds=60, script={"bluesky": ["ok", fault]})  # createSession, createRecord
    pool.start(1)
    update_id = publish_everything(runtime, users, queue, channels=("bluesky",))
    faultkit.wait_until(lambda: sandbox_client.stats()["in_flight"].get("bluesky") == 1, 60,
                        what="the post on the wire")
    assert pool.kill9() == 1
    pool.start(1)
    faultkit.wait_settled(runtime.sessions, timeout=120)
    [post] = posts(sandbox_client)
    with runtime.sessions() as session:
        sent = session.scalar(select(Delivery).where(Delivery.update_id == update_id))
        outcomes = session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "reconcile",
                                                                    AuditEvent.channel == "bluesky")).all()
    assert (sent.state, sent.provider_id) == ("sent", post["id"])
    assert outcomes[0] == "in_doubt" and outcomes[1] == ("sent" if outcome == "found" else "pending")
