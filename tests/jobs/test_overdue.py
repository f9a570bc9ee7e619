"""Overdue promised updates: the worker's check texts the on-call list once at the promised time, again after each
interval, through a real worker and the sandbox, audits each once, and stops when an update keeps the promise.
The clock is a parameter: no test waits for time to pass."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from crisiscast import jobs
from crisiscast.jobs.overdue import remind_overdue
from crisiscast.services import promises
from crisiscast.store.models import AuditEvent, OverdueReminder, StaffText, utcnow
from tests.support.faultkit import wait_until

ALICE, BOB, PUBLIC_READER = "+15125551267", "+15125551268", "+15125551299"


def work(queue):
    jobs.make_worker([queue], queue.connection).work(burst=True, with_scheduler=False, logging_level="WARNING")


@pytest.fixture
def on_call(subscribe):
    subscribe(ALICE, BOB, lists=("staff-on-call",))
    subscribe(PUBLIC_READER, lists=("public",))


@pytest.fixture
def promised(publish):
    """A public update that promised its next one 30 minutes after it was published; returns (update, due)."""
    due = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    return publish(incident="Fort Hood", headline="ER open", next_update_at=due, queued=False), due


def overdue_audit(db) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "overdue").order_by(AuditEvent.id)))


def test_one_reminder_at_the_promised_time_then_one_per_interval_counted_at_the_sandbox(
        db, runtime, queue, sandbox_client, on_call, promised):
    update, due = promised
    assert remind_overdue(runtime, queue, due - timedelta(seconds=1)) == []  # not yet
    assert len(remind_overdue(runtime, queue, due)) == 2
    work(queue)
    first = sandbox_client.accepted("twilio")
    assert sorted(m["to"] for m in first) == [ALICE, BOB]
    assert "promised by" in first[0]["body"] and "Fort Hood" in first[0]["body"]
    # every further pass within the interval, and a second worker, find the reminder already claimed
    assert remind_overdue(runtime, queue, due + timedelta(minutes=14, seconds=59)) == []
    assert promises.remind(db, due + timedelta(minutes=5), runtime.settings) == []
    work(queue)
    assert len(sandbox_client.accepted("twilio")) == 2
    assert len(remind_overdue(runtime, queue, due + timedelta(minutes=15))) == 2
    work(queue)
    assert len(sandbox_client.accepted("twilio")) == 4
    keys = sorted({t.key for t in db.scalars(select(StaffText))})
    assert keys == [f"overdue:{update.id}:1", f"overdue:{update.id}:2"]
    entries = overdue_audit(db)
    assert [e.update_id for e in entries] == [update.id, update.id]
    assert "promised next update overdue on Fort Hood" in entries[0].message
    assert "reminder 2" in entries[1].message and "2 texts to the on-call list staff-on-call" in entries[1].message


def test_a_later_update_keeps_the_promise_and_the_reminders_stop(db, runtime, queue, on_call, promised, publish):
    update, due = promised
    assert len(remind_overdue(runtime, queue, due)) == 2
    publish(incident="Fort Hood", headline="ER still open", queued=False)
    assert remind_overdue(runtime, queue, due + timedelta(minutes=15)) == []
    assert promises.overdue_now(db, due + timedelta(hours=2), "UTC") == []


def test_no_further_updates_planned_clears_it(db, runtime, queue, on_call, promised, publish):
    update, due = promised
    publish(incident="Fort Hood", headline="All clear", no_further_updates=True, queued=False)
    assert remind_overdue(runtime, queue, due + timedelta(hours=1)) == []
    assert overdue_audit(db) == []


def test_a_staff_only_note_does_not_keep_a_promise_made_to_the_public(db, runtime, queue, on_call, promised,
                                                                       publish):
    update, due = promised
    publish(incident="Fort Hood", headline="Staff: huddle at 3", channels=("sms",), lists=("staff-on-call",),
            queued=False)
    assert [o.update_id for o in promises.overdue_now(db, due, "UTC")] == [update.id]


def test_a_retracted_update_promises_nothing(db, runtime, queue, on_call, promised):
    update, due = promised
    update.retracted_at = utcnow()
    db.commit()
    assert remind_overdue(runtime, queue, due + timedelta(minutes=1)) == []


def test_an_empty_on_call_list_is_audited_as_a_failure_once(db, runtime, queue, promised):
    update, due = promised
    assert remind_overdue(runtime, queue, due) == []
    assert remind_overdue(runtime, queue, due + timedelta(minutes=1)) == []
    entries = overdue_audit(db)
    assert len(entries) == 1 and entries[0].outcome == "failed" and entries[0].error_code == "no_recipients"
    assert "has no active numbers" in entries[0].message
    assert db.scalar(select(OverdueReminder.number)) == 1


def test_another_worker_holding_the_lock_skips_the_pass(db, runtime, queue, on_call, promised):
    update, due = promised
    lock = queue.connection.lock(f"crisiscast:{queue.name}:overdue", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        assert remind_overdue(runtime, queue, due) is None
    finally:
        lock.release()
    assert len(remind_overdue(runtime, queue, due)) == 2


def test_at_the_extremes_of_the_interval(db, runtime, queue, on_call, promised):
    update, due = promised
    once_a_day = runtime.settings.replace(OVERDUE_REMINDER_MINUTES=24 * 60)
    assert len(promises.remind(db, due, once_a_day)) == 2
    assert promises.remind(db, due + timedelta(hours=23, minutes=59), once_a_day) == []
    assert len(promises.remind(db, due + timedelta(hours=24), once_a_day)) == 2
    every_minute = runtime.settings.replace(OVERDUE_REMINDER_MINUTES=1)
    # a worker that was down for an hour sends the one reminder due now, not the sixty it missed
    assert len(promises.remind(db, due + timedelta(hours=25), every_minute)) == 2
    assert db.scalars(select(OverdueReminder.number).order_by(OverdueReminder.id)).all() == [1, 2, 25 * 60 + 1]


def test_the_worker_loop_runs_the_check_beside_the_reconciler(db, runtime, queue, sandbox_client, on_call, publish):
    overdue = publish(incident="Fort Hood", headline="ER open", next_update_at=utcnow() - timedelta(minutes=1),
                      queued=False)
    stop = threading.Event()
    loop = threading.Thread(target=jobs.reconcile_forever, args=(runtime, queue, 0.05, stop), daemon=True)
    loop.start()
    try:
        wait_until(lambda: len(overdue_audit(db)) == 1, what=lambda: overdue_audit(db))
    finally:
        stop.set()
        loop.join(60)
    work(queue)
    assert sorted(m["to"] for m in sandbox_client.accepted("twilio")) == [ALICE, BOB]
    assert [e.update_id for e in overdue_audit(db)] == [overdue.id]  # one reminder, audited once


def test_a_drill_neither_keeps_a_promise_nor_makes_one(db, publish, runtime):
    late = utcnow() - timedelta(minutes=5)
    real = publish(channels=("feed",), next_update_at=late)
    publish(channels=("sms",), lists=("drill",), exercise=True, headline="Evacuation drill")
    drill_promise = publish(channels=("sms",), lists=("drill",), exercise=True, headline="Drill two",
                            incident="Drill incident", next_update_at=late)
    overdue = promises.overdue_now(db, utcnow(), "UTC")
    assert [o.update_id for o in overdue] == [real.id] and drill_promise.id not in [o.update_id for o in overdue]
