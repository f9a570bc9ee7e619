"""Texts to staff (approval requests, overdue reminders): once per key and number, through a real worker and the
sandbox; a lost job is queued again; a claim its worker abandoned is in doubt, never resent."""
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine

from crisiscast import jobs
from crisiscast.channels import RetryableError
from crisiscast.jobs.tasks import enqueue_staff_texts
from crisiscast.jobs.worker import send_waiting_staff_texts
from crisiscast.sending import staff_texts as sending
from crisiscast.services import staff_texts
from crisiscast.store.models import AuditEvent, StaffText, utcnow

ALICE, BOB = "+15125551267", "+15125551268"


def work(queue):
    jobs.make_worker([queue], queue.connection).work(burst=True, with_scheduler=False, logging_level="WARNING")


def states(db) -> dict[str, str]:
    db.expire_all()
    return {row.phone: row.state for row in db.scalars(select(StaffText))}


def test_each_number_is_texted_once_per_key_through_a_worker(db, runtime, queue, sandbox_client):
    ids = staff_texts.request(db, "approval:1", [ALICE, BOB, ALICE, " "], "Approval needed: Use the north entrance",
                              kind="approval")
    db.commit()
    assert len(ids) == 2
    assert staff_texts.request(db, "approval:1", [ALICE, BOB], "again", kind="approval") == []
    enqueue_staff_texts(queue, ids)
    work(queue)
    assert states(db) == {ALICE: "sent", BOB: "sent"}
    accepted = sandbox_client.accepted("twilio")
    assert sorted(m["to"] for m in accepted) == [ALICE, BOB]
    assert all(m["body"] == "Approval needed: Use the north entrance" for m in accepted)
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff_text.approval")).all()
    assert sorted(e.target for e in events) == ["+1 ••••••••67", "+1 ••••••••68"]
    assert all(e.provider_id for e in events)


def test_a_new_key_texts_the_same_people_again(db):
    first = staff_texts.request(db, "overdue:7:1", [ALICE], "Overdue", kind="overdue")
    second = staff_texts.request(db, "overdue:7:2", [ALICE], "Overdue again", kind="overdue")
    assert len(first) == len(second) == 1


def test_a_text_whose_job_has_not_run_is_sent_by_the_worker_pass_once(db, runtime, queue, sandbox_client):
    """Its job was lost (Redis replaced after the commit), or every worker is busy with a long fan-out: once the
    grace has passed, the worker's periodic pass sends it itself; the job, when it runs, finds it sent."""
    ids = staff_texts.request(db, "approval:2", [ALICE], "Approval needed", kind="approval")
    db.commit()
    enqueue_staff_texts(queue, ids)  # waiting behind the fan-out's batch jobs
    assert send_waiting_staff_texts(runtime) == 0  # within the grace: the job may still run
    db.execute(update(StaffText).values(created_at=utcnow() - timedelta(minutes=5)))
    db.commit()
    assert send_waiting_staff_texts(runtime) == 1
    work(queue)
    assert states(db) == {ALICE: "sent"} and len(sandbox_client.accepted("twilio")) == 1
    assert send_waiting_staff_texts(runtime) == 0


def test_a_refused_text_goes_back_to_pending_and_goes_once(db, runtime, sandbox_client):
    ids = staff_texts.request(db, "approval:3", [ALICE], "Approval needed", kind="approval")
    db.commit()
    sandbox_client.configure(script={"twilio": ["503"]})
    with pytest.raises(RetryableError):
        sending.send_all(runtime.sessions, runtime.channels["sms"], ids)
    assert states(db) == {ALICE: "pending"}
    assert sending.send_all(runtime.sessions, runtime.channels["sms"], ids) == ["sent"]
    assert sending.send_all(runtime.sessions, runtime.channels["sms"], ids) == ["skipped"]
    assert len(sandbox_client.accepted("twilio")) == 1


def test_a_claim_older_than_the_lease_is_in_doubt_and_never_resent(db, runtime, queue, sandbox_client):
    ids = staff_texts.request(db, "approval:4", [ALICE], "Approval needed", kind="approval")
    db.commit()
    # A worker claimed it and died before writing what happened.
    db.execute(update(StaffText).values(state="sending", claimed_at=utcnow() - timedelta(seconds=121),
                                        created_at=utcnow() - timedelta(minutes=5)))
    db.commit()
    assert sending.settle_abandoned(runtime.sessions, lease_seconds=120) == 1
    assert send_waiting_staff_texts(runtime) == 0
    assert sending.send_all(runtime.sessions, runtime.channels["sms"], ids) == ["skipped"]
    assert states(db) == {ALICE: "in_doubt"} and sandbox_client.accepted("twilio") == []
    event = db.scalar(select(AuditEvent).where(AuditEvent.outcome == "in_doubt"))
    assert event.actor == "reconciler" and event.target == "+1 ••••••••67"


def test_a_claim_inside_the_lease_is_left_alone(db, runtime):
    staff_texts.request(db, "approval:5", [ALICE], "Approval needed", kind="approval")
    db.commit()
    db.execute(update(StaffText).values(state="sending", claimed_at=utcnow() - timedelta(seconds=60)))
    db.commit()
    assert sending.settle_abandoned(runtime.sessions, lease_seconds=120) == 0
    assert states(db) == {ALICE: "sending"}


def test_numbers_come_from_a_lists_active_members_and_staff_accounts(db, subscribe, users):
    subscribe(ALICE, lists=("staff-on-call",))
    subscribe(BOB, lists=("staff-on-call",), active=False)
    users["author"].phone = "+15125551269"
    db.commit()
    assert staff_texts.list_numbers(db, "staff-on-call") == [ALICE]
    assert staff_texts.user_numbers(db, [users["author"].id, users["admin"].id]) == ["+15125551269"]


def test_a_key_longer_than_its_column_is_refused(db):
    with pytest.raises(ValueError):
        staff_texts.request(db, "k" * 81, [ALICE], "x", kind="approval")


def test_a_refusal_that_echoes_the_number_is_recorded_with_the_number_masked(db, runtime, sandbox_client):
    # Twilio's refusal repeats the number it refused: neither the row nor the audit log may keep it.
    ids = staff_texts.request(db, "approval:6", ["5125551267"], "Approval needed", kind="approval")
    db.commit()
    assert sending.send_all(runtime.sessions, runtime.channels["sms"], ids) == ["failed"]
    db.expire_all()
    row = db.get(StaffText, ids[0])
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "staff_text.approval"))
    assert row.error.startswith("21211") and event.outcome == "failed"
    for text in (row.error, event.message, event.target):
        assert "5125551267" not in text and "25551267" not in text


def test_two_workers_asking_at_once_queue_one_text_and_neither_fails(db, runtime):
    # Two workers notice the same overdue promise: the other one's row is committed between this one's look and
    # its insert. This one queues nothing and raises nothing (an IntegrityError here would fail its whole pass).
    raced = []

    def other_worker_first(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO STAFF_TEXTS") and not raced:
            raced.append(True)
            with runtime.sessions() as other:
                raced.extend(staff_texts.request(other, "overdue:9:1", [ALICE], "Overdue", kind="overdue"))
                other.commit()

    event.listen(Engine, "before_cursor_execute", other_worker_first)
    try:
        mine = staff_texts.request(db, "overdue:9:1", [ALICE, BOB], "Overdue", kind="overdue")
        db.commit()
    finally:
        event.remove(Engine, "before_cursor_execute", other_worker_first)
    assert len(raced) == 2  # the other worker's row went in first
    assert len(mine) == 1 and states(db) == {ALICE: "pending", BOB: "pending"}
    assert db.get(StaffText, mine[0]).phone == BOB


def test_a_claim_is_renewed_when_its_throttle_turn_comes_and_refused_if_given_up(db, runtime):
    """A staff text can wait long for its turn behind a fan-out: the turn renews the claim (so the reconciler
    does not take it for a dead worker's); if the reconciler gave it up meanwhile, it is not sent."""
    [text_id] = staff_texts.request(db, "approval:6", [ALICE], "Approval needed", kind="approval")
    db.execute(update(StaffText).values(state="sending", claimed_at=utcnow() - timedelta(seconds=119)))
    db.commit()
    assert sending._renewal(runtime.sessions, text_id)() is True
    assert sending.settle_abandoned(runtime.sessions, lease_seconds=120) == 0
    db.execute(update(StaffText).values(state="in_doubt"))
    db.commit()
    assert sending._renewal(runtime.sessions, text_id)() is False
