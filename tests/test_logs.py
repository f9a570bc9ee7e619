"""Phone numbers never reach a log line, even in a database error's DETAIL or a traceback."""
import io
import logging

import pytest
from sqlalchemy import insert

from crisiscast.store.models import Subscriber


@pytest.fixture
def written(runtime):
    """What a plain handler on the root logger writes (the Runtime installed the masking)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    yield out
    logging.getLogger().removeHandler(handler)


def test_a_number_in_a_message_or_its_arguments_is_masked(written):
    logging.getLogger("crisiscast.anything").warning("could not text %s: %s", "+15125551267", "To=+447700900123")
    assert written.getvalue() == "WARNING could not text +1 ••••••••67: To=+44 ••••••••23\n"


def test_a_unique_violation_with_its_number_is_masked_in_the_traceback(written, db, subscribe):
    subscribe("+15125551267")
    try:
        db.execute(insert(Subscriber).values(phone="+15125551267"))
        db.commit()
    except Exception:  # noqa: BLE001 - the database refused the second row, and said which number
        db.rollback()
        logging.getLogger("crisiscast.anything").exception("import failed")
    logged = written.getvalue()
    assert "import failed" in logged and "Traceback" in logged and "IntegrityError" in logged
    assert "5125551267" not in logged and "+1 ••••••••67" in logged
