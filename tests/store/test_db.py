"""The engine: a failing statement's error (which reaches the server log) carries no bound parameters."""
import logging

import pytest
from sqlalchemy.exc import IntegrityError

from crisiscast.store.models import Subscriber


def test_a_failing_statement_shows_no_phone_number_or_name(db, caplog):
    db.add(Subscriber(phone="+15125550187", name="Ann Private", active=True))
    db.commit()
    db.add(Subscriber(phone="+15125550187", name="Ann Private", active=True))
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrityError) as raised:
        db.commit()
    db.rollback()
    shown = str(raised.value) + repr(raised.value) + caplog.text
    assert "subscribers" in shown  # the statement is still named, so the log says what failed
    assert "5125550187" not in shown and "Ann Private" not in shown
    assert "hidden due to hide_parameters" in str(raised.value)
