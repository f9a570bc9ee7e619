"""The whole path through the console: compose, preview, publish, a real worker, the sandbox, audit, feed."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import feedparser
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

import config
from crisiscast.runtime import Runtime
from crisiscast.store.models import AuditEvent, Delivery, Update
from crisiscast.web import create_app
from tests.conftest import csrf_token


def compose_form(client, **overrides) -> dict:
    """A filled-in compose form as the page hands it out (uid and CSRF token included)."""
    page = client.get("/updates/new").get_data(as_text=True)
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "uid": re.search(r'name="uid" value="([0-9a-f]{12})"', page).group(1),
        "incident": "Fort Hood shooting response",
        "er_access": "open_delays",
        "operating_status": "lockdown",
        "headline": "ER open with delays; blood donors needed",
        "body": "Families: call the family line at 254-724-2111. Donate blood at the Red Cross center.",
        "channels": ["sms", "x", "facebook", "feed"],
        "lists": ["public"],
    }
    form.update(overrides)
    return form


def preview_then_publish(client, form):
    preview = client.post("/updates/new", data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview.get_data(as_text=True)).group(1)
    return client.post("/updates/new", data={**form, "action": "publish", "digest": digest})


def test_publish_reaches_all_four_channels_through_a_real_worker(client, auth, db, drain, sandbox_client, subscribe):
    subscribe("+15125551267", "+15125550188")
    auth.login("author")
    response = preview_then_publish(client, compose_form(client))
    assert response.status_code == 302
    update_id = int(response.headers["Location"].rsplit("/", 1)[1])

    drain()

    deliveries = {d.channel: d for d in db.scalars(select(Delivery).where(Delivery.update_id == update_id))}
    assert {c: d.state for c, d in deliveries.items()} == {"sms": "sent", "x": "sent", "facebook": "sent",
                                                         "feed": "sent"}
    sms = sandbox_client.accepted("twilio")
    assert sorted(m["to"] for m in sms) == ["+15125550188", "+15125551267"]
    assert sms[0]["body"].startswith("Scott & White: ER open with delays; blood donors needed\n")
    [tweet] = sandbox_client.accepted("x")
    assert deliveries["x"].provider_id == tweet["id"]
    [post] = sandbox_client.accepted("graph")
    assert deliveries["facebook"].provider_id == post["id"]
    assert post["link"].endswith(f"/u/{db.get(Update, update_id).uid}")

    sends = db.scalars(select(AuditEvent).where(AuditEvent.update_id == update_id, AuditEvent.action == "send")).all()
    assert sorted((e.channel, e.outcome) for e in sends) == [
        ("facebook", "sent"), ("feed", "sent"), ("sms", "sent"), ("sms", "sent"), ("x", "sent")]
    assert {e.provider_id for e in sends if e.channel == "sms"} == {m["id"] for m in sms}
    assert {e.target for e in sends if e.channel == "sms"} == {"+1 ••••••••67", "+1 ••••••••88"}
    assert all(e.actor == "worker" for e in sends)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "publish")).actor == "author"

    feed = feedparser.parse(client.get("/feed.atom").data)
    assert not feed.bozo
    assert feed.entries[0].title == "ER open with delays; blood donors needed"

    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert tweet["id"] in page and post["id"] in page and "2 sent" in page


def test_preview_shows_each_channel_with_counts_and_publishes_nothing(client, auth, db, sandbox_client):
    auth.login("author")
    form = compose_form(client)
    page = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert 'data-channel="sms"' in page and 'data-channel="x"' in page
    assert re.search(r"18\d characters · GSM-7 · <strong>2 segments</strong>", page)
    assert "Publish to 4 channels" in page
    assert db.scalar(select(func.count()).select_from(Update)) == 0
    assert sandbox_client.accepted() == []


def test_bad_input_keeps_what_was_typed_and_stores_nothing(client, auth, db):
    auth.login("author")
    form = compose_form(client, headline="   ", er_access="on_fire", body="Keep this text <b>safe</b> & sound")
    response = client.post("/updates/new", data={**form, "action": "publish", "digest": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Write a headline." in page
    assert "Choose the ER access status from the list." in page
    assert "Keep this text &lt;b&gt;safe&lt;/b&gt; &amp; sound" in page
    assert 'value="Fort Hood shooting response"' in page
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_headline_too_long_for_x_is_refused_with_the_reason(client, auth, db):
    auth.login("author")
    form = compose_form(client, headline="Ä" * 10 + "界" * 110)
    page = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "of X&#39;s 280 characters; shorten the headline." in page
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_missing_csrf_token_is_refused_and_nothing_is_stored(client, auth, db):
    auth.login("author")
    form = compose_form(client)
    del form["csrf_token"]
    response = client.post("/updates/new", data={**form, "action": "preview"})
    assert response.status_code == 400
    assert "nothing was published or sent" in response.get_data(as_text=True)
    assert 'value="ER open with delays; blood donors needed"' in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_double_submit_publishes_once(client, auth, db, drain, sandbox_client):
    auth.login("author")
    form = compose_form(client, channels=["x", "facebook"])
    first = preview_then_publish(client, form)
    second = preview_then_publish(client, form)
    assert first.headers["Location"] == second.headers["Location"]
    assert "already published" in client.get(second.headers["Location"]).get_data(as_text=True)
    drain()
    assert db.scalar(select(func.count()).select_from(Update)) == 1
    assert len(sandbox_client.accepted("x")) == 1
    assert len(sandbox_client.accepted("graph")) == 1


def test_publish_needs_a_current_preview(client, auth, db):
    auth.login("author")
    form = compose_form(client)
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    changed = {**form, "headline": "ER closed", "action": "publish", "digest": digest}
    response = client.post("/updates/new", data=changed)
    assert response.status_code == 409
    assert "The text or the lists changed since the preview" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_a_failing_channel_does_not_hold_up_the_others(client, auth, db, drain, sandbox_client):
    sandbox_client.configure(script={"graph": ["permanent"]})
    auth.login("author")
    response = preview_then_publish(client, compose_form(client, channels=["x", "facebook", "feed"]))
    update_id = int(response.headers["Location"].rsplit("/", 1)[1])
    drain()
    states = {d.channel: d.state for d in db.scalars(select(Delivery).where(Delivery.update_id == update_id))}
    assert states == {"x": "sent", "facebook": "failed", "feed": "sent"}
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert "Error validating access token" in page and "Retry" in page
    [failure] = db.scalars(select(AuditEvent).where(AuditEvent.channel == "facebook")).all()
    assert (failure.outcome, failure.error_code) == ("failed", "190")
    assert "Error validating access token" in failure.message


def test_retry_of_a_failed_delivery_sends_it(client, auth, db, drain, sandbox_client):
    sandbox_client.configure(script={"x": ["permanent"]})
    auth.login("author")
    response = preview_then_publish(client, compose_form(client, channels=["x"]))
    drain()
    delivery = db.scalar(select(Delivery))
    assert delivery.state == "failed"
    path = response.headers["Location"]
    client.post(f"/deliveries/{delivery.id}/retry", data={"csrf_token": csrf_token(client, path)})
    drain()
    db.expire_all()
    assert db.get(Delivery, delivery.id).state == "sent"
    assert len(sandbox_client.accepted("x")) == 1
    assert [e.outcome for e in db.scalars(select(AuditEvent).where(AuditEvent.channel == "x")
                                           .order_by(AuditEvent.id))] == ["failed", "ok", "sent"]


def test_unconfigured_channel_is_shown_and_skipped_with_a_reason(settings, sandbox_client, users):
    rt = Runtime(config.Settings({**settings, "X_CONSUMER_KEY": "", "X_ACCESS_TOKEN": ""}))
    app = create_app(rt.settings, rt)
    client = app.test_client()
    client.post("/login", data={"username": "author", "password": "correct horse battery",
                                "csrf_token": csrf_token(client, "/login")})
    page = client.get("/updates/new").get_data(as_text=True)
    assert re.search(r'value="x"\s+disabled', page)
    assert "set X_CONSUMER_KEY, X_ACCESS_TOKEN" in page
    form = compose_form(client, channels=["x", "feed"])
    response = preview_then_publish(client, form)
    assert response.status_code == 302
    with rt.sessions() as session:
        x = session.scalar(select(Delivery).where(Delivery.channel == "x"))
        assert (x.state, x.error_code) == ("skipped", "not_configured")
        assert "set X_CONSUMER_KEY, X_ACCESS_TOKEN" in x.error_message
    rt.close()


def test_viewer_cannot_publish(client, auth):
    auth.login("viewer")
    assert client.get("/updates/new").status_code == 403


def test_changing_the_lists_after_the_preview_needs_a_new_preview(client, auth, db):
    auth.login("author")
    form = compose_form(client)
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    response = client.post("/updates/new", data={**form, "lists": ["public", "media"], "action": "publish",
                                                 "digest": digest})
    assert response.status_code == 409
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_preview_estimates_the_sms_fan_out(client, auth, subscribe, settings):
    subscribe(*[f"+1512555{i:04d}" for i in range(25)], lists=("media",))
    auth.login("author")
    page = client.post("/updates/new", data={**compose_form(client, lists=["media"]), "action": "preview"})
    text = page.get_data(as_text=True)
    estimate = " ".join(re.search(r'<p id="sms-estimate">(.*?)</p>', text, re.S).group(1).split())
    assert estimate == ("To <strong>25</strong> recipients on media · 50 segments in all · "
                        "about <strong>0 s</strong> at 5,000 segments/s, a long code")


def test_sms_without_a_list_is_refused(client, auth):
    auth.login("author")
    response = client.post("/updates/new", data={**compose_form(client, lists=[]), "action": "preview"})
    assert response.status_code == 422 and "Choose at least one list to text." in response.get_data(as_text=True)


def test_publishing_while_redis_is_down_stores_it_and_it_goes_out_when_back(settings, users, sandbox_client, queue,
                                                                           drain):
    from crisiscast import jobs
    from dev.redis_server import free_port

    down = config.Settings({**settings, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    rt = Runtime(down)
    client = create_app(down, rt).test_client()
    client.post("/login", data={"username": "author", "password": "correct horse battery",
                                "csrf_token": csrf_token(client, "/login")})
    response = preview_then_publish(client, compose_form(client, channels=["x", "feed"]))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "deliveries are waiting for the queue" in page and 'id="waiting-for-queue"' in page
    assert sandbox_client.accepted() == []
    with rt.sessions() as session:
        assert {d.state for d in session.scalars(select(Delivery))} == {"pending"}
    from crisiscast.sending.reconcile import reconcile

    reconcile(rt.sessions, rt.channels, jobs.RQQueuePort(queue), grace=0)  # what a worker does once Redis is back
    drain()
    assert len(sandbox_client.accepted("x")) == 1
    rt.close()


def test_dashboard_shows_channel_health_and_counts(client, auth, db, drain, sandbox_client):
    auth.login("author")
    preview_then_publish(client, compose_form(client, channels=["x", "feed"]))
    drain()
    page = " ".join(client.get("/").get_data(as_text=True).split())
    assert re.search(r"<td>X</td>.*?>ok</span>.*?1 sent", page)


def test_the_preview_says_plainly_when_an_update_is_internal(client, auth, db):
    auth.login("author")
    def preview(*lists):
        form = compose_form(client, channels=["sms"], lists=list(lists))
        return client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)

    assert "Internal: staff only — it will not appear on the public site or feeds." in preview("staff-on-call")
    assert "Internal: staff only" not in preview("staff-on-call", "media")


def test_a_list_flag_changed_after_the_preview_needs_a_new_preview(client, auth, db):
    """The preview said internal; publish must not make it public without showing that first."""
    from crisiscast.services import subscribers

    auth.login("author")
    form = compose_form(client, channels=["sms"], lists=["staff-on-call"])
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    staff = next(lst for lst in subscribers.all_lists(db) if lst.name == "staff-on-call")
    subscribers.set_flags(db, staff.id, public=True, joinable=False, actor="admin")
    response = client.post("/updates/new", data={**form, "action": "publish", "digest": digest})
    assert response.status_code == 409 and db.scalar(select(func.count()).select_from(Update)) == 0


def test_invisible_control_characters_are_removed_with_a_notice_and_the_cleaned_text_published(client, auth, db):
    auth.login("author")
    form = compose_form(client, headline="ER open\x08 with delays", channels=["feed"],
                        body="Families: call\x0b254-724-2111.\x01 Donate\x1f blood.")
    response = client.post("/updates/new", data={**form, "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Headline: 1 invisible control character was removed (at 8). Check the preview." in page
    assert "Text: 2 invisible control characters were removed (at 29, 37). Check the preview." in page
    assert 'value="ER open with delays"' in page
    assert ">Families: call\n254-724-2111. Donate blood.</textarea>" in page
    assert preview_then_publish(client, form).status_code == 302
    stored = db.scalar(select(Update))
    assert (stored.headline, stored.body) == ("ER open with delays", "Families: call\n254-724-2111. Donate blood.")


def publish_feed(client, drain, headline: str) -> int:
    """Publish a feed-only update through the console and a real worker; its id."""
    response = preview_then_publish(client, compose_form(client, headline=headline, channels=["feed"]))
    drain()
    return int(response.headers["Location"].rsplit("/", 1)[1])


def poison(db, update_id: int, **values) -> None:
    """Write `values` straight into an update's row, as rows stored before text was cleaned at the edge."""
    db.execute(sql_update(Update).where(Update.id == update_id).values(**values))
    db.commit()


def test_an_update_the_site_cannot_render_shows_its_feed_failed_with_retry_and_later_ones_go_out(
        client, auth, db, drain):
    auth.login("author")
    response = preview_then_publish(client, compose_form(client, headline="Surge plan", channels=["feed"]))
    update_id = int(response.headers["Location"].rsplit("/", 1)[1])
    poison(db, update_id, er_access="surge")  # before its worker renders it
    drain()
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert "[render_failed]" in page and "surge" in page and "Retry" in page
    publish_feed(client, drain, "Blood donors needed at the main campus")
    assert "Blood donors needed at the main campus" in client.get("/status").get_data(as_text=True)
    assert [e.title for e in feedparser.parse(client.get("/feed.atom").data).entries] == [
        "Blood donors needed at the main campus"]


def test_retract_of_an_update_with_control_characters_from_before_the_fix_never_answers_500(
        client, auth, db, drain, settings):
    auth.login("author")
    update_id = publish_feed(client, drain, "Shelter in place")
    poison(db, update_id, headline="Shelter\x01 in place", body="Stay\x0binside")
    path = f"/updates/{update_id}"
    response = client.post(f"{path}/retract", data={"csrf_token": csrf_token(client, path),
                                                    "reason": "Sent\x02 in error"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Retracted: it leaves the public status page" in page
    assert "Reason: 1 invisible control character was removed" in page
    assert "Shelter in place" not in client.get("/status").get_data(as_text=True)
    uid = db.get(Update, update_id).uid
    assert b"Sent in error" in client.get(f"/cap/{uid}-cancel.xml").data


def test_retract_says_clearly_when_the_public_files_cannot_be_rendered(client, auth, db, drain, settings):
    auth.login("author")
    healthy = publish_feed(client, drain, "Visiting hours resume")
    unknown = publish_feed(client, drain, "Surge plan")
    poison(db, unknown, er_access="surge")  # after it went out: the Cancel cannot be rendered
    path = f"/updates/{unknown}"
    page = client.post(f"{path}/retract", data={"csrf_token": csrf_token(client, path), "reason": "Wrong"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Retracted" in page and f"update #{unknown} could not be rendered" in page and "surge" in page
    assert "Surge plan" not in client.get("/status").get_data(as_text=True)
    # A public directory that cannot be written: the retraction stands and the page says so.
    public = Path(settings.PUBLIC_DIR)
    shutil.rmtree(public)
    public.write_text("not a directory")
    path = f"/updates/{healthy}"
    response = client.post(f"{path}/retract", data={"csrf_token": csrf_token(client, path), "reason": "Wrong"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Retracted and saved, but the public files could not be written" in page
    assert db.get(Update, healthy).retracted_at is not None


def test_patient_information_must_be_acknowledged_before_it_is_published(client, auth, db):
    auth.login("author")
    form = compose_form(client, channels=["feed"], body="Patient Maria Lopez, MRN 00482913, is stable.")
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "“Maria Lopez”" in preview and "“MRN 00482913”" in preview
    assert "I confirm this contains no patient information" in preview
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    tick = re.search(r'name="acknowledge" value="([0-9a-f]+)"', preview).group(1)

    unticked = client.post("/updates/new", data={**form, "action": "publish", "digest": digest})
    assert unticked.status_code == 409 and "tick the box" in unticked.get_data(as_text=True)
    assert "Patient Maria Lopez, MRN 00482913" in unticked.get_data(as_text=True)  # the text is kept
    assert db.scalar(select(func.count()).select_from(Update)) == 0

    ticked = client.post("/updates/new", data={**form, "action": "publish", "digest": digest, "acknowledge": tick})
    assert ticked.status_code == 302
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "guard_acknowledged")).all()
    assert event.actor == "author" and "Maria Lopez" in event.message


def test_a_tick_for_other_warnings_does_not_count(client, auth, db):
    auth.login("author")
    form = compose_form(client, channels=["feed"], er_access="open", operating_status="evacuating",
                        body="Patient Maria Lopez is stable.")
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "ER access says “Open” while the hospital is “Evacuating”" in preview
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    response = client.post("/updates/new", data={**form, "action": "publish", "digest": digest,
                                                  "acknowledge": "0123456789abcdef"})
    assert response.status_code == 409
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_an_update_without_warnings_publishes_without_a_tick(client, auth, db):
    auth.login("author")
    preview = client.post("/updates/new", data={**compose_form(client), "action": "preview"}).get_data(as_text=True)
    assert 'name="acknowledge"' not in preview  # the hospital's own number (PHI_ALLOWED_CONTACTS) is no warning
    assert preview_then_publish(client, compose_form(client)).status_code == 302


def test_the_same_template_twice_never_makes_x_refuse_a_duplicate(client, auth, db, drain, sandbox_client):
    auth.login("author")
    for _ in range(3):
        assert preview_then_publish(client, compose_form(client, channels=["x"])).status_code == 302
    drain()
    assert [d.state for d in db.scalars(select(Delivery).order_by(Delivery.id))] == ["sent", "sent", "sent"]
    headlines = [t["text"].split("\n")[0] for t in sandbox_client.accepted("x")]
    assert headlines == ["ER open with delays; blood donors needed", "ER open with delays; blood donors needed (2)",
                         "ER open with delays; blood donors needed (3)"]


def test_edits_sent_after_publishing_are_offered_as_a_correction_not_dropped(client, auth, db):
    auth.login("author")
    form = compose_form(client, channels=["feed"])
    assert preview_then_publish(client, form).status_code == 302
    original = db.scalar(select(Update))
    edited = {**form, "headline": "ER open; blood donors no longer needed"}
    response = client.post("/updates/new", data={**edited, "action": "publish", "digest": "stale"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "your edits were not sent" in page
    assert 'value="ER open; blood donors no longer needed"' in page
    assert f'name="corrects" value="{original.uid}" checked' in page
    new_uid = re.search(r'name="uid" value="([0-9a-f]{12})"', page).group(1)
    assert new_uid != original.uid

    published = preview_then_publish(client, {**edited, "uid": new_uid, "corrects": original.uid})
    assert published.status_code == 302
    correction = db.scalar(select(Update).where(Update.uid == new_uid))
    assert correction.corrects_id == original.id and correction.headline == "ER open; blood donors no longer needed"


def test_a_double_submit_of_the_same_text_is_still_just_recognised(client, auth, db):
    auth.login("author")
    form = compose_form(client, channels=["feed"])
    first, second = preview_then_publish(client, form), preview_then_publish(client, form)
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]


def test_a_draft_typed_before_the_session_was_lost_is_back_after_signing_in(client, auth, db):
    auth.login("author")
    form = compose_form(client, headline="ER on diversion", body="Typed at 2 a.m.\nsecond line")
    saved = client.post("/updates/draft", data=form, headers={"X-CSRFToken": form["csrf_token"]})
    assert saved.status_code == 200 and "UTC" in saved.get_json()["saved_at"]
    auth.logout()
    auth.login("author")
    page = client.get("/updates/new").get_data(as_text=True)
    assert "Your unsent draft from" in page
    assert 'value="ER on diversion"' in page and "Typed at 2 a.m.\nsecond line</textarea>" in page
    assert re.search(r'name="uid" value="([0-9a-f]{12})"', page).group(1) == form["uid"]


def test_publishing_or_discarding_forgets_the_draft(client, auth, db):
    auth.login("author")
    form = compose_form(client, channels=["feed"])
    client.post("/updates/draft", data=form, headers={"X-CSRFToken": form["csrf_token"]})
    assert preview_then_publish(client, form).status_code == 302
    assert "Your unsent draft" not in client.get("/updates/new").get_data(as_text=True)
    form = compose_form(client, headline="Something else")
    client.post("/updates/draft", data=form, headers={"X-CSRFToken": form["csrf_token"]})
    client.post("/updates/draft/discard", data={"csrf_token": form["csrf_token"]})
    assert "Something else" not in client.get("/updates/new").get_data(as_text=True)


def test_an_expired_form_comes_back_with_its_text_and_a_fresh_token(client, auth, db):
    auth.login("author")
    form = compose_form(client, headline="Lockdown: do not come to campus", body="Stay away from the north tower.")
    auth.logout()
    auth.login("author")  # signed out and in again in another tab: the page's token is no longer valid
    response = client.post("/updates/new", data={**form, "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "nothing was published or sent" in page
    assert 'value="Lockdown: do not come to campus"' in page and "Stay away from the north tower.</textarea>" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert token != form["csrf_token"]
    again = client.post("/updates/new", data={**form, "csrf_token": token, "action": "preview"})
    assert again.status_code == 200 and 'data-channel="feed"' in again.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Update)) == 0
