"""Two-person approval: a request sends nothing and is no update; a decision is made once, by someone else;
break-glass only after the timeout; a change after the request needs a new approval."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crisiscast import jobs
from crisiscast.core.domain import ValidationError
from crisiscast.services import approval, approval_inbox
from crisiscast.store.models import ApprovalRequest, AuditEvent, Delivery, SubscriberList, Update, utcnow
from tests.conftest import PASSWORD
from tests.support.approvals import ask, make_approver


@pytest.fixture
def approver(db, users):
    return make_approver(db, "ic", PASSWORD)


@pytest.fixture
def sending(runtime, queue):
    return approval.Sending(runtime.settings, runtime.channels, lambda i, c: jobs.enqueue_delivery(queue, i, c))


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_a_pending_request_sends_nothing_and_is_no_update(db, runtime, users, subscribe, drain, sandbox_client):
    subscribe("+15125551267")
    found = ask(db, runtime.settings, users["author"])
    drain()
    assert found.state == approval.PENDING
    assert count(db, Update) == 0 and count(db, Delivery) == 0  # nothing a public path could read
    assert sandbox_client.accepted() == []
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.action == "approval_requested"))


def test_approve_publishes_once_as_its_author_wrote_it(db, runtime, users, approver, subscribe, drain, sending,
                                                       sandbox_client):
    subscribe("+15125551267", "+15125550188")
    found = ask(db, runtime.settings, users["author"])
    now = utcnow()
    result = approval.approve(db, found.id, approval.Decision(approver, now, found.content_hash), sending)
    with pytest.raises(approval.Refused, match="Already approved by ic"):
        approval.approve(db, found.id, approval.Decision(approver, now, found.content_hash), sending)
    drain()
    update = result.update
    assert (update.author.username, update.release, update.approved_by_id) == ("author", "approved", approver.id)
    assert update.approved_at == now and update.uid == found.uid
    said = db.scalar(select(AuditEvent).where(AuditEvent.action == "approved"))
    assert (said.actor, said.update_id) == ("ic", update.id) and "by author" in said.message
    assert count(db, Update) == 1
    assert sorted(m["to"] for m in sandbox_client.accepted("twilio")) == ["+15125550188", "+15125551267"]
    db.refresh(found)
    assert (found.state, found.decided_by_id, found.update_id) == ("approved", approver.id, update.id)


def test_two_approvers_at_once_publish_once(db, runtime, users, approver, subscribe, drain, sending,
                                            sandbox_client):
    subscribe("+15125551267")
    second = make_approver(db, "deputy", PASSWORD, role="admin")
    found = ask(db, runtime.settings, users["author"])
    barrier, outcomes = threading.Barrier(2), []

    def decide(user_id):
        with runtime.sessions() as session:
            user = session.get(type(approver), user_id)
            barrier.wait()
            try:
                approval.approve(session, found.id, approval.Decision(user, utcnow(), found.content_hash), sending)
                outcomes.append("published")
            except approval.Refused as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=decide, args=(u.id,)) for u in (approver, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain()
    assert outcomes.count("published") == 1, outcomes
    assert any(o.startswith("Already approved by") for o in outcomes), outcomes
    assert count(db, Update) == 1 and len(sandbox_client.accepted("twilio")) == 1


def test_reject_needs_a_reason_and_returns_it_to_the_author(db, runtime, users, approver):
    found = ask(db, runtime.settings, users["author"])
    with pytest.raises(ValidationError, match="Say why"):
        approval.reject(db, found.id, approval.Decision(approver, utcnow(), reason="  \x00 "))
    with pytest.raises(ValidationError, match="limit is 500"):
        approval.reject(db, found.id, approval.Decision(approver, utcnow(), reason="x" * 501))
    approval.reject(db, found.id, approval.Decision(approver, utcnow(), reason="Say which\x01 entrance."))
    db.refresh(found)
    assert (found.state, found.reason) == ("rejected", "Say which entrance.")
    assert [r.id for r in approval_inbox.unseen_decisions(db, users["author"])] == [found.id]
    approval_inbox.seen_by(db, found, users["author"])
    assert approval_inbox.unseen_decisions(db, users["author"]) == [] and count(db, Update) == 0
    assert "Say which entrance." in db.scalar(select(AuditEvent.message).where(AuditEvent.action == "reject"))


def test_nobody_decides_their_own_request_and_only_approvers_decide(db, runtime, users, approver, sending):
    own = ask(db, runtime.settings, approver)
    for decide in (lambda d: approval.approve(db, own.id, d, sending), lambda d: approval.reject(db, own.id, d)):
        with pytest.raises(approval.Refused, match="another approver must decide"):
            decide(approval.Decision(approver, utcnow(), own.content_hash, "no"))
    # Neither an author nor an admin approves without the flag: no role implies it.
    for who in ("author", "admin"):
        with pytest.raises(approval.Refused, match="Only an approver"):
            approval.approve(db, own.id, approval.Decision(users[who], utcnow(), own.content_hash), sending)
    assert count(db, Update) == 0 and approval_inbox.pending_count(db, approver) == 0
    assert approval_inbox.pending_count(db, users["author"]) == 1


@pytest.mark.parametrize("minutes", [5, 0.01, 24 * 60])  # the default, and the extremes a hospital might set
def test_break_glass_is_refused_before_the_timeout_and_allowed_after(db, runtime, users, approver, subscribe, drain,
                                                                      queue, sandbox_client, minutes):
    subscribe("+15125551267")
    settings = runtime.settings.replace(APPROVAL_TIMEOUT_MINUTES=minutes)
    sending = approval.Sending(settings, runtime.channels, lambda i, c: jobs.enqueue_delivery(queue, i, c))
    asked = utcnow()
    found = ask(db, settings, users["author"], now=asked)
    just_before = asked + timedelta(minutes=minutes) - timedelta(microseconds=1)
    with pytest.raises(approval.Refused, match="Approvers have until"):
        approval.break_glass(db, found.id, approval.Decision(users["author"], just_before, found.content_hash,
                                                              "No answer"), sending)
    at = asked + timedelta(minutes=minutes)
    with pytest.raises(approval.Refused, match="Only the author"):
        approval.break_glass(db, found.id, approval.Decision(approver, at, found.content_hash, "x"), sending)
    with pytest.raises(ValidationError, match="cannot wait"):
        approval.break_glass(db, found.id, approval.Decision(users["author"], at, found.content_hash, " "), sending)
    assert count(db, Update) == 0
    result = approval.break_glass(db, found.id, approval.Decision(users["author"], at, found.content_hash,
                                                                   "Nobody answers; the ER is closing now"), sending)
    drain()
    assert (result.update.release, result.update.release_reason) == ("break_glass",
                                                                     "Nobody answers; the ER is closing now")
    loud = db.scalar(select(AuditEvent).where(AuditEvent.action == "break_glass"))
    assert loud.outcome == "warning" and loud.message.startswith("PUBLISHED WITHOUT APPROVAL")
    assert (loud.actor, loud.update_id) == ("author", result.update.id)
    assert len(sandbox_client.accepted("twilio")) == 1


def test_a_change_after_the_request_needs_a_new_approval(db, runtime, users, approver, sending):
    first = ask(db, runtime.settings, users["author"])
    again = ask(db, runtime.settings, users["author"], uid=first.uid)
    assert again.id == first.id  # the same form resubmitted: not asked twice
    changed = ask(db, runtime.settings, users["author"], uid=first.uid, headline="Use the west entrance")
    db.refresh(first)
    assert changed.id != first.id and first.state == approval.WITHDRAWN
    with pytest.raises(approval.Refused, match="Withdrawn"):
        approval.approve(db, first.id, approval.Decision(approver, utcnow(), first.content_hash), sending)
    result = approval.approve(db, changed.id, approval.Decision(approver, utcnow(), changed.content_hash), sending)
    assert result.update.headline == "Use the west entrance" and count(db, Update) == 1


def test_what_goes_out_changing_after_the_request_needs_a_new_look(db, runtime, users, approver, sending):
    found = ask(db, runtime.settings, users["author"], channels=["sms"], lists=["staff-on-call"])
    with pytest.raises(approval.Changed):
        approval.approve(db, found.id, approval.Decision(approver, utcnow(), "not what goes out"), sending)
    # An admin marks the list public after the request: the update would now be public.
    db.scalar(select(SubscriberList).where(SubscriberList.name == "staff-on-call")).public = True
    db.commit()
    with pytest.raises(approval.Changed) as seen:
        approval.approve(db, found.id, approval.Decision(approver, utcnow(), found.content_hash), sending)
    assert count(db, Update) == 0 and db.get(ApprovalRequest, found.id).state == approval.PENDING
    now = seen.value.prepared
    assert now.checked.audience == "public"
    result = approval.approve(db, found.id, approval.Decision(approver, utcnow(), now.digest), sending)
    assert result.update.audience == "public"
