"""Two-person approval in the console: Publish makes a request (nothing sent, nothing public), approvers see a
banner and the preview as it goes out, decide once, never their own; the author sees a rejection and reopens
the draft; break-glass after the timeout is marked on the update's page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crisiscast.store.models import ApprovalRequest, AuditEvent, Update, User
from tests.conftest import PASSWORD
from tests.support import routes
from tests.support.approvals import ask, make_approver
from tests.web.test_console import compose_form, preview_then_publish


@pytest.fixture
def settings(settings):
    return settings.replace(APPROVAL_REQUIRED=True)


@pytest.fixture
def approver(db, users):
    return make_approver(db, "ic", PASSWORD)


def as_(app, name: str):
    return routes.signed_in(app, name, PASSWORD)


def seen_hash(page: str) -> str:
    return re.search(r'name="seen" value="([0-9a-f]+)"', page).group(1)


def test_publish_makes_a_request_that_sends_nothing_and_is_on_no_public_path(app, client, auth, db, subscribe,
                                                                               drain, sandbox_client):
    subscribe("+15125551267")
    auth.login("author")
    form = compose_form(client, body="Patient Maria Lopez is stable.")
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    tick = re.search(r'name="acknowledge" value="([0-9a-f]+)"', preview).group(1)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    asked = client.post("/updates/new", data={**form, "action": "publish", "digest": digest, "acknowledge": tick})
    assert asked.status_code == 302 and "/approvals/" in asked.location
    again = client.post("/updates/new", data={**form, "action": "publish", "digest": digest, "acknowledge": tick})
    assert again.location == asked.location  # a double tap asks once
    drain()
    assert db.scalar(select(func.count()).select_from(Update)) == 0 and sandbox_client.accepted() == []
    assert db.scalar(select(func.count()).select_from(ApprovalRequest)) == 1
    anonymous = app.test_client()
    for path in ("/status", "/feed.atom", "/feed.rss", "/feed.json", "/cap/index.atom", "/have.xml"):
        assert "Maria Lopez" not in anonymous.get(path).get_data(as_text=True), path
    page = client.get(asked.location).get_data(as_text=True)
    assert "Waiting for approval: nothing has been sent" in page and 'id="own-request"' in page
    assert 'id="approve"' not in page  # nobody approves their own


def test_the_approver_sees_a_banner_and_exactly_what_goes_out_and_approves_once(app, db, users, approver, subscribe,
                                                                               drain, sandbox_client, runtime):
    subscribe("+15125551267")
    found = ask(db, runtime.settings, users["author"], warnings=["It may name a patient: “Maria Lopez”."])
    ic = as_(app, "ic")
    assert "1 update waiting for your approval" in ic.get("/").get_data(as_text=True)
    page = ic.get(f"/approvals/{found.id}").get_data(as_text=True)
    assert "It may name a patient" in page and seen_hash(page) == found.content_hash
    sms = re.search(r'<pre class="render" data-channel="sms">([^<]*)</pre>', page).group(1)
    token = routes.csrf_token(ic)
    approved = ic.post(f"/approvals/{found.id}/approve", data={"seen": found.content_hash, "csrf_token": token})
    twice = ic.post(f"/approvals/{found.id}/approve", data={"seen": found.content_hash, "csrf_token": token},
                    follow_redirects=True)
    assert approved.status_code == 302 and "/updates/" in approved.location
    assert "Already approved by ic" in twice.get_data(as_text=True)
    drain()
    [text] = sandbox_client.accepted("twilio")
    assert text["body"] == sms.replace("&amp;", "&")  # what the approver read is what went out
    update = db.scalar(select(Update))
    assert "Approved by ic" in ic.get(f"/updates/{update.id}").get_data(as_text=True)
    assert re.search(r'id="approved-by">ic, approved ', ic.get(f"/updates/{update.id}/hics-213").get_data(as_text=True))
    assert "1 update waiting" not in ic.get("/").get_data(as_text=True)
    author = as_(app, "author")
    assert "was approved by ic" in author.get("/").get_data(as_text=True)
    author.get(f"/approvals/{found.id}")
    assert "was approved by ic" not in author.get("/").get_data(as_text=True)  # seen: the banner goes


def test_a_stale_approval_page_is_refused_and_shows_the_new_version(app, db, users, approver, runtime):
    found = ask(db, runtime.settings, users["author"])
    ic = as_(app, "ic")
    stale = ic.post(f"/approvals/{found.id}/approve", data={"seen": "0" * 32, "csrf_token": routes.csrf_token(ic)})
    assert stale.status_code == 409 and "changed since this page was opened" in stale.get_data(as_text=True)
    assert seen_hash(stale.get_data(as_text=True)) == found.content_hash
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_reject_needs_a_reason_the_author_sees_it_and_reopens_the_draft(app, db, users, approver, runtime):
    found = ask(db, runtime.settings, users["author"], **{"headline": "Use the {place} entrance", "ph_place": "north"})
    ic = as_(app, "ic")
    token = routes.csrf_token(ic)
    blank = ic.post(f"/approvals/{found.id}/reject", data={"reason": " ", "csrf_token": token})
    assert blank.status_code == 422 and "Say why" in blank.get_data(as_text=True)
    long = "x" * 600
    refused = ic.post(f"/approvals/{found.id}/reject", data={"reason": long, "csrf_token": token})
    assert refused.status_code == 422 and long in refused.get_data(as_text=True)  # what was typed is kept
    ic.post(f"/approvals/{found.id}/reject", data={"reason": "Name the street too.", "csrf_token": token})
    author = as_(app, "author")
    home = author.get("/").get_data(as_text=True)
    assert "was rejected by ic: Name the street too." in home
    page = author.get(f"/approvals/{found.id}").get_data(as_text=True)
    assert "Rejected by ic" in page and "Name the street too." in page
    reopened = author.post(f"/approvals/{found.id}/reopen", data={"csrf_token": routes.csrf_token(author)},
                           follow_redirects=True).get_data(as_text=True)
    assert 'value="Use the north entrance"' in reopened and "The south lobby is closed until noon." in reopened
    assert f'name="uid" value="{found.uid}"' in reopened
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_nobody_decides_their_own_request_and_a_non_approver_is_told_why(app, db, users, approver, runtime):
    own = ask(db, runtime.settings, approver)
    ic = as_(app, "ic")
    page = ic.get(f"/approvals/{own.id}").get_data(as_text=True)
    assert 'id="approve"' not in page and 'id="reject"' not in page and "another approver must decide" in page
    refused = ic.post(f"/approvals/{own.id}/approve", data={"seen": own.content_hash,
                                                             "csrf_token": routes.csrf_token(ic)},
                      follow_redirects=True)
    assert "another approver must decide" in refused.get_data(as_text=True)
    author = as_(app, "author")
    assert 'id="not-approver"' in author.get(f"/approvals/{own.id}").get_data(as_text=True)
    author.post(f"/approvals/{own.id}/approve", data={"seen": own.content_hash,
                                                       "csrf_token": routes.csrf_token(author)})
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_break_glass_after_the_timeout_is_marked_and_audited(app, db, users, approver, runtime, drain):
    found = ask(db, runtime.settings, users["author"])
    author = as_(app, "author")
    page = author.get(f"/approvals/{found.id}").get_data(as_text=True)
    assert 'id="glass-later"' in page and 'id="break-glass"' not in page
    early = author.post(f"/approvals/{found.id}/break-glass", data={
        "seen": found.content_hash, "reason": "Now", "csrf_token": routes.csrf_token(author)}, follow_redirects=True)
    assert "Approvers have until" in early.get_data(as_text=True)
    # The clock: the request was asked five minutes ago (APPROVAL_TIMEOUT_MINUTES' default).
    db.get(ApprovalRequest, found.id).requested_at -= timedelta(minutes=5)
    db.commit()
    page = author.get(f"/approvals/{found.id}").get_data(as_text=True)
    done = author.post(f"/approvals/{found.id}/break-glass", data={
        "seen": seen_hash(page), "reason": "No approver answers; the lobby floods",
        "csrf_token": routes.csrf_token(author)}, follow_redirects=True).get_data(as_text=True)
    assert "Published WITHOUT approval" in done and "No approver answers; the lobby floods" in done
    update = db.scalar(select(Update))
    form = author.get(f"/updates/{update.id}/hics-213").get_data(as_text=True)
    assert "NOT APPROVED: released by author without approval (break-glass): No approver answers" in form
    drain()
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "break_glass"))
    assert event.outcome == "warning" and "lobby floods" in event.message
    assert "break_glass" in author.get("/audit").get_data(as_text=True)


def test_the_request_link_signs_in_and_comes_straight_back(app, db, users, approver, runtime):
    found = ask(db, runtime.settings, users["author"])
    client = app.test_client()
    away = client.get(f"/approvals/{found.id}")
    assert away.status_code == 302 and "/login" in away.location
    signed = client.post(away.location, data={"username": "ic", "password": PASSWORD,
                                              "csrf_token": routes.csrf_token(client)})
    assert signed.status_code == 302 and signed.location.rstrip("?").endswith(f"/approvals/{found.id}")


def test_admins_make_an_author_an_approver_and_a_viewer_cannot_be_one(app, db, users):
    admin = as_(app, "admin")
    token = routes.csrf_token(admin)
    author_id, viewer_id = users["author"].id, users["viewer"].id
    admin.post(f"/admin/users/{author_id}", data={"role": "author", "active": "1", "can_approve": "1",
                                                  "csrf_token": token})
    refused = admin.post(f"/admin/users/{viewer_id}", data={"role": "viewer", "active": "1", "can_approve": "1",
                                                            "csrf_token": token}, follow_redirects=True)
    assert "make them an author first" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(User, author_id).can_approve and not db.get(User, viewer_id).can_approve
    event = db.scalar(select(AuditEvent).where(AuditEvent.message == "now an approver"))
    assert (event.actor, event.target) == ("admin", "author")


def test_approvers_are_texted_a_link_that_opens_the_request(app, client, auth, db, users, approver, drain,
                                                            sandbox_client):
    approver.phone = "+15125551201"
    db.commit()
    auth.login("author")
    asked = preview_then_publish(client, compose_form(client, channels=["x", "feed"]))
    assert "1 approver texted." in client.get(asked.location).get_data(as_text=True)
    drain()
    [text] = sandbox_client.accepted("twilio")
    assert text["to"] == "+15125551201" and sandbox_client.accepted("x") == []
    path = "/approvals/" + text["body"].rsplit("/approvals/", 1)[1]
    assert path == asked.location[asked.location.index("/approvals/"):]
    assert 'id="approve"' in as_(app, "ic").get(path).get_data(as_text=True)


def test_the_author_withdraws_a_request_and_nobody_can_approve_it_then(app, db, users, approver, runtime):
    found = ask(db, runtime.settings, users["author"])
    ic = as_(app, "ic")
    refused = ic.post(f"/approvals/{found.id}/withdraw", data={"csrf_token": routes.csrf_token(ic)},
                      follow_redirects=True)
    assert "Only the author who asked can withdraw it." in refused.get_data(as_text=True)
    author = as_(app, "author")
    author.post(f"/approvals/{found.id}/withdraw", data={"csrf_token": routes.csrf_token(author)})
    late = ic.post(f"/approvals/{found.id}/approve", data={"seen": found.content_hash,
                                                           "csrf_token": routes.csrf_token(ic)}, follow_redirects=True)
    assert "Withdrawn by author" in late.get_data(as_text=True) and "1 update waiting" not in ic.get("/").get_data(
        as_text=True)
    assert db.scalar(select(func.count()).select_from(Update)) == 0
    reopened = author.post(f"/approvals/{found.id}/reopen", data={"csrf_token": routes.csrf_token(author)},
                           follow_redirects=True).get_data(as_text=True)
    assert 'value="Use the north entrance"' in reopened


def test_an_approved_request_keeps_the_promised_time_of_the_next_update(app, client, auth, db, approver, subscribe,
                                                                        drain, sandbox_client):
    """The promise is part of what the approver sees and of what goes out: kept with the request, read again at
    approval, unchanged (so the approval is not refused as changed)."""
    from datetime import datetime, timezone

    subscribe("+15125551267")
    promised = (datetime.now(timezone.utc) + timedelta(minutes=45)).strftime("%H:%M")
    auth.login("author")
    form = {**compose_form(client), "next_at": promised}
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    asked = client.post("/updates/new", data={**form, "action": "publish", "digest": digest})
    assert "/approvals/" in asked.location
    ic = as_(app, "ic")
    page = ic.get(asked.location).get_data(as_text=True)
    assert f"Next update by {promised}" in page
    approved = ic.post(asked.location + "/approve", data={"seen": seen_hash(page), "csrf_token": routes.csrf_token(ic)})
    assert approved.status_code == 302 and "/updates/" in approved.location
    drain()
    update = db.scalar(select(Update))
    assert update.next_update_at is not None and update.next_update_at.strftime("%H:%M") == promised
    [text] = sandbox_client.accepted("twilio")
    assert f"Next update by {promised}" in text["body"]
