"""The audit log: masked targets, scrubbed secrets, append-only in the database itself, CSV safe for spreadsheets."""
import csv
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from crisiscast import audit


def test_masks():
    assert audit.mask_phone("+15125551267") == "+1512555••67"
    assert audit.mask_id("1234567890") == "1234…"


def test_secrets_are_scrubbed_from_messages(db):
    event = audit.record(db, actor="worker", action="send", outcome="failed",
                         message="token sandbox-page-token rejected", secrets=["sandbox-page-token", ""])
    db.commit()
    assert event.message == "token •••• rejected"


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET outcome = 'ok'", "DELETE FROM audit_events"])
def test_the_database_refuses_to_change_or_delete_entries(db, statement):
    audit.record(db, actor="author", action="publish", outcome="ok")
    db.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
        db.commit()
    db.rollback()
    assert len(audit.query(db)) == 1


def test_csv_has_a_header_every_entry_and_defused_formulas(db):
    audit.record(db, actor="author", action="publish", outcome="ok", message="=HYPERLINK(\"http://evil\")")
    audit.record(db, actor="worker", action="send", outcome="sent", channel="sms", target="+1512555••67",
                 provider_id="SM123")
    db.commit()
    rows = list(csv.reader(io.StringIO("".join(audit.to_csv(audit.query(db))))))
    assert rows[0] == list(audit.CSV_FIELDS)
    assert rows[1][6] == "+1512555••67" and rows[1][8] == "SM123"
    assert rows[2][10].startswith("'=HYPERLINK")
