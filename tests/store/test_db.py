"""The engine: a failing statement's error (which reaches the server log) carries no bound parameters."""
import logging

import pytest
from sqlalchemy.exc import IntegrityError

from crisiscast.store.models import SmsRecipient


def test_a_failing_statement_shows_no_phone_number(db, caplog):
    # A recipient of a delivery that does not exist: refused by the foreign key on both databases, with the
    # phone number only among the bound parameters (PostgreSQL's own DETAIL names the missing key, not it).
    db.add(SmsRecipient(delivery_id=999_999, subscriber_id=999_999, phone="+15125550187", state="pending"))
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrityError) as raised:
        db.commit()
    db.rollback()
    shown = str(raised.value) + repr(raised.value) + caplog.text
    assert "sms_recipients" in shown  # the statement is still named, so the log says what failed
    assert "5125550187" not in shown
    assert "hidden due to hide_parameters" in str(raised.value)
