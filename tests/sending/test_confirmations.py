"""SMS_CONFIRM_ADDED's confirmation texts: sent once, retried only when nothing was accepted, never when in doubt."""
import pytest
from sqlalchemy import select

from crisiscast.channels import RetryableError
from crisiscast.runtime import Runtime
from crisiscast.sending.confirmations import send_confirmations
from crisiscast.services import subscribers
from crisiscast.store.models import AuditEvent, Subscriber

NUMBER = "+15125551267"


@pytest.fixture
def pending(db):
    """A staff-added number awaiting its confirmation: its id."""
    subscribers.add(db, NUMBER, "", ["public"], "author")
    ids = subscribers.request_confirmations(db, [NUMBER])
    db.commit()
    return ids


def state(db):
    db.expire_all()
    return db.scalar(select(Subscriber.confirmation))


def test_a_refused_send_goes_back_to_pending_and_is_sent_once_on_retry(runtime, db, sandbox_client, pending):
    sandbox_client.configure(script={"twilio": ["503"]})
    with pytest.raises(RetryableError):
        send_confirmations(runtime.sessions, runtime.channels["sms"], "Org", pending)
    assert state(db) == "pending"
    assert send_confirmations(runtime.sessions, runtime.channels["sms"], "Org", pending) == ["sent"]
    assert send_confirmations(runtime.sessions, runtime.channels["sms"], "Org", pending) == ["skipped"]
    assert len(sandbox_client.accepted("twilio")) == 1 and state(db) == "sent"


def test_a_send_with_no_answer_is_in_doubt_and_never_repeated(settings, db, sandbox_client, pending):
    sandbox_client.configure(timeout_seconds=3, script={"twilio": ["lost"]})
    rt = Runtime(settings.replace(PROVIDER_TIMEOUT=0.5))
    try:
        assert send_confirmations(rt.sessions, rt.channels["sms"], "Org", pending) == ["in_doubt"]
        assert send_confirmations(rt.sessions, rt.channels["sms"], "Org", pending) == ["skipped"]
    finally:
        rt.close()
    assert len(sandbox_client.accepted("twilio")) == 1 and state(db) == "in_doubt"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "confirmation"))
    assert event.outcome == "in_doubt" and event.target == "+1 ••••••••67"


def test_a_number_that_said_stop_before_the_job_ran_is_not_texted(runtime, db, sandbox_client, pending):
    subscribers.opt_out(db, NUMBER)
    db.commit()
    assert send_confirmations(runtime.sessions, runtime.channels["sms"], "Org", pending) == ["skipped"]
    assert sandbox_client.accepted("twilio") == []


def test_only_staff_added_or_imported_numbers_are_marked(db):
    subscribers.opt_in(db, NUMBER, "public", evidence="text SM1")
    db.commit()
    assert subscribers.request_confirmations(db, [NUMBER]) == []
