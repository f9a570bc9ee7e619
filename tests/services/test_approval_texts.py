"""Approvers are texted through the staff-texts outbox and the sandbox: once per request and number, never the
author, or APPROVAL_NOTIFY_LIST's members instead; a break-glass publish is texted too."""
from datetime import timedelta

import pytest

from crisiscast import jobs
from crisiscast.services import approval, approval_texts
from crisiscast.store.models import utcnow
from tests.conftest import PASSWORD
from tests.support.approvals import ask, make_approver

IC, DEPUTY, AUTHOR = "+15125551201", "+15125551202", "+15125551203"


@pytest.fixture
def phones(db, users):
    ic, deputy = make_approver(db, "ic", PASSWORD), make_approver(db, "deputy", PASSWORD, role="admin")
    ic.phone, deputy.phone, users["author"].phone = IC, DEPUTY, AUTHOR
    users["admin"].phone = "+15125551204"  # an admin who is not an approver is not texted
    db.commit()
    return ic, deputy


def work(queue):
    jobs.make_worker([queue], queue.connection).work(burst=True, with_scheduler=False, logging_level="WARNING")


def test_a_request_texts_each_approver_once_with_its_link(db, runtime, users, phones, queue, sandbox_client):
    found = ask(db, runtime.settings, users["author"])
    ids = approval_texts.ask(db, runtime.settings, found)
    assert approval_texts.ask(db, runtime.settings, found) == []  # asked again: nobody is texted twice
    jobs.enqueue_staff_texts(queue, ids)
    work(queue)
    texts = sandbox_client.accepted("twilio")
    assert sorted(m["to"] for m in texts) == [IC, DEPUTY]
    assert all(m["body"].endswith(f"/approvals/{found.id}") and "“Use the north entrance” by author" in m["body"]
               for m in texts)


def test_an_approvers_own_request_texts_the_others_only(db, runtime, users, phones, queue, sandbox_client):
    ic, _ = phones
    jobs.enqueue_staff_texts(queue, approval_texts.ask(db, runtime.settings, ask(db, runtime.settings, ic)))
    work(queue)
    assert [m["to"] for m in sandbox_client.accepted("twilio")] == [DEPUTY]


def test_the_notify_list_is_texted_instead(db, runtime, users, phones, queue, subscribe, sandbox_client):
    subscribe("+15125559999", lists=("staff-on-call",))
    settings = runtime.settings.replace(APPROVAL_NOTIFY_LIST="staff-on-call")
    jobs.enqueue_staff_texts(queue, approval_texts.ask(db, settings, ask(db, settings, users["author"])))
    work(queue)
    assert [m["to"] for m in sandbox_client.accepted("twilio")] == ["+15125559999"]


def test_a_break_glass_publish_is_texted_to_the_approvers(db, runtime, users, phones, queue, sandbox_client):
    sending = approval.Sending(runtime.settings, runtime.channels, lambda *a: None)
    found = ask(db, runtime.settings, users["author"], now=utcnow() - timedelta(minutes=5))
    result = approval.break_glass(db, found.id, approval.Decision(users["author"], utcnow(), found.content_hash,
                                                                   "Nobody answers"), sending)
    jobs.enqueue_staff_texts(queue, approval_texts.break_glass(db, runtime.settings, found))
    work(queue)
    texts = sandbox_client.accepted("twilio")
    assert sorted(m["to"] for m in texts) == [IC, DEPUTY]
    assert all("PUBLISHED WITHOUT APPROVAL by author: Nobody answers" in m["body"] and
               m["body"].endswith(f"/updates/{result.update.id}") for m in texts)
