"""Refused requests reach the audit log as one counted summary per source, kind and minute, written once."""
import threading

from sqlalchemy import select

from crisiscast.jobs.worker import summarise_refusals
from crisiscast.services.refusals import WINDOW_SECONDS, Refusal, RefusalLog
from crisiscast.store.models import AuditEvent

T0 = 1_700_000_000 - 1_700_000_000 % WINDOW_SECONDS  # the start of a minute, in the past


def entries(db):
    db.expire_all()
    return db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()


def test_a_window_is_summarised_once_it_has_closed_by_the_next_refused_request(runtime, db):
    log = runtime.refusals()
    for second in range(5):
        log.record(Refusal("webhook", "203.0.113.9", "/webhooks/twilio/sms: missing signature"), runtime.sessions,
                   now=T0 + second)
    log.record(Refusal("sign_in", "203.0.113.9", "admin"), runtime.sessions, now=T0 + 30)
    log.record(Refusal("sign_in", "198.51.100.7", "author", tag="throttled"), runtime.sessions, now=T0 + 59)
    assert entries(db) == []  # the minute is still open

    log.record(Refusal("webhook", "192.0.2.1", "/webhooks/twilio/status: missing signature"), runtime.sessions,
               now=T0 + WINDOW_SECONDS)
    written = {(e.action, e.target, e.actor, e.outcome): e.message for e in entries(db)}
    assert written == {
        ("webhook_refused", "203.0.113.9", "system", "refused"):
            "5 refused webhook requests from 203.0.113.9 in the minute from 2023-11-14 22:13 UTC; "
            "tried: /webhooks/twilio/sms: missing signature",
        ("sign_in", "203.0.113.9", "system", "refused"):
            "1 refused sign-in from 203.0.113.9 in the minute from 2023-11-14 22:13 UTC; tried: admin",
        ("sign_in", "198.51.100.7", "system", "refused"):
            "1 refused sign-in from 198.51.100.7 in the minute from 2023-11-14 22:13 UTC (1 throttled); "
            "tried: author",
    }
    assert log.flush(runtime.sessions, now=T0 + 3 * WINDOW_SECONDS) == 1  # 192.0.2.1's minute, once
    assert log.flush(runtime.sessions, now=T0 + 3 * WINDOW_SECONDS) == 0
    assert len(entries(db)) == 4


def test_processes_flushing_at_once_write_each_window_once(runtime, db):
    for n in range(40):
        runtime.refusals().record(Refusal("webhook", f"203.0.113.{n % 4}", "x"), runtime.sessions,
                                  now=T0 + n % WINDOW_SECONDS)
    logs = [RefusalLog(runtime.redis(), f"crisiscast:{runtime.settings.QUEUE_NAME}") for _ in range(8)]
    threads = [threading.Thread(target=log.flush, args=(runtime.sessions, T0 + WINDOW_SECONDS)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((e.target, e.message.split()[0]) for e in entries(db)) == [
        (f"203.0.113.{n}", "10") for n in range(4)]


def test_the_details_kept_are_bounded_and_storable(runtime, db):
    log = runtime.refusals()
    for n in range(30):
        log.record(Refusal("sign_in", "203.0.113.9", f"user\x00{n:02d}" + "x" * 500), runtime.sessions, now=T0)
    log.flush(runtime.sessions, now=T0 + WINDOW_SECONDS)
    (event,) = entries(db)
    assert event.message.startswith("30 refused sign-ins") and "\x00" not in event.message
    assert event.message.count("user") == 10 and len(event.message) < 1500


def test_the_workers_periodic_pass_writes_what_no_request_closed(runtime, db):
    runtime.refusals().record(Refusal("webhook", "203.0.113.9", "x"), runtime.sessions, now=T0)
    assert summarise_refusals(runtime) == 1
    assert [e.message.split(" from ")[0] for e in entries(db)] == ["1 refused webhook request"]
