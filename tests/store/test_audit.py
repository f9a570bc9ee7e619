"""The audit log: masked targets, scrubbed secrets, append-only in the database itself, CSV safe for spreadsheets."""
import csv
import io
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from crisiscast.core import masking
from crisiscast.store import audit, bulk
from crisiscast.store.models import utcnow


def test_masks():
    assert masking.mask_phone("+15125551267") == "+1 ••••••••67"
    assert masking.mask_id("1234567890") == "1234…"


def test_secrets_are_scrubbed_from_messages(db):
    event = audit.record(db, actor="worker", action="send", outcome="failed",
                         message="token sandbox-page-token rejected", secrets=["sandbox-page-token", ""])
    db.commit()
    assert event.message == "token •••• rejected"


@pytest.mark.parametrize("count", [3, bulk.COPY_FROM + 5])
def test_entries_in_bulk_keep_every_field_and_scrub_secrets(db, count):
    """Few entries go by INSERT, many (on PostgreSQL) by COPY: either way each arrives whole."""
    at = utcnow()
    audit.record_many(db, [{"at": at, "actor": "worker", "action": "send", "outcome": "failed", "update_id": 7,
                            "channel": "sms", "target": f"+1 ••••••••{i:02d}", "provider_id": None, "error_code": 21211,
                            "message": f"bad number {i}, token sandbox-auth-token"} for i in range(count)],
                      secrets=["sandbox-auth-token"])
    db.commit()
    entries = sorted(audit.query(db), key=lambda e: e.target)
    assert [e.target for e in entries] == [f"+1 ••••••••{i:02d}" for i in range(count)]
    assert {(e.at, e.actor, e.action, e.outcome, e.update_id, e.channel, e.provider_id, e.error_code)
            for e in entries} == {(at, "worker", "send", "failed", 7, "sms", None, "21211")}
    assert entries[1].message == "bad number 1, token ••••"


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET outcome = 'ok'", "DELETE FROM audit_events"])
def test_the_database_refuses_to_change_or_delete_entries(db, statement):
    audit.record(db, actor="author", action="publish", outcome="ok")
    db.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
        db.commit()
    db.rollback()
    assert len(audit.query(db)) == 1


def test_the_database_refuses_to_truncate_the_log(db):
    if db.bind.dialect.name == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (DELETE, refused above, is its only way to empty a table)")
    audit.record(db, actor="author", action="publish", outcome="ok")
    db.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text("TRUNCATE audit_events"))
    db.rollback()
    assert len(audit.query(db)) == 1


def test_a_role_that_does_not_own_the_log_can_neither_truncate_it_nor_switch_the_guard_off(db):
    """What the test fixture does (the owner disables the trigger for one transaction) is out of reach of an
    application role that was granted everything on the table but does not own it."""
    if db.bind.dialect.name == "sqlite":
        pytest.skip("SQLite has no TRUNCATE and no roles")
    role = f"crisiscast_app_{uuid.uuid4().hex[:8]}"  # created in this transaction only: rolled back below
    db.execute(text(f"CREATE ROLE {role}"))
    db.execute(text(f"GRANT ALL ON audit_events TO {role}"))
    db.execute(text(f"SET LOCAL ROLE {role}"))
    for statement, refusal in [("TRUNCATE audit_events", "append-only"),
                               ("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate", "owner"),
                               ("SET LOCAL session_replication_role = replica", "permission denied")]:
        with pytest.raises(DatabaseError, match=refusal):
            with db.begin_nested():
                db.execute(text(statement))
    db.rollback()


def test_csv_has_a_header_every_entry_and_defused_formulas(db):
    audit.record(db, actor="author", action="publish", outcome="ok", message="=HYPERLINK(\"http://evil\")")
    audit.record(db, actor="worker", action="send", outcome="sent", channel="sms", target="+1 ••••••••67",
                 provider_id="SM123")
    db.commit()
    rows = list(csv.reader(io.StringIO("".join(audit.to_csv(audit.query(db))))))
    assert rows[0] == list(audit.CSV_FIELDS)
    assert rows[1][6] == "+1 ••••••••67" and rows[1][8] == "SM123"
    assert rows[2][10].startswith("'=HYPERLINK")
