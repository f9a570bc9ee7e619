"""CSV import of subscribers: a report for every line, opt-outs never re-subscribed; uploads in any encoding."""
import pytest
from sqlalchemy import select

from crisiscast.services import subscribers
from crisiscast.services.subscriber_import import decode, import_csv
from crisiscast.store.models import Subscriber

CSV = """number,name,lists
(512) 555-0101,Ann,public
+15125550102,Bob,public;media
512-555-0103,Cy,
not a number,Dee,public
+15125550105,Eve,volunteers
+15125550106,Stopped,public
+15125550102,Bob again,public
+15125550107,Kept,media
"""


def test_csv_import_reports_each_line_and_never_resubscribes_an_opt_out(db):
    subscribers.add(db, "+15125550107", "Kept", ["media"], "author")
    subscribers.opt_out(db, "+15125550106")
    db.commit()
    report = import_csv(db, CSV, "author")
    assert [(line.number, line.outcome) for line in report.lines] == [
        (2, "added"), (3, "added"), (4, "added"), (5, "rejected"), (6, "rejected"), (7, "rejected"),
        (8, "rejected"), (9, "unchanged")]
    details = {line.number: line.detail for line in report.lines}
    assert "not a phone number" in details[5]
    assert details[6] == "unknown list: volunteers"
    assert "texted STOP" in details[7] and "never re-subscribes" in details[7]
    assert "appears earlier in this file" in details[8]
    stopped = db.scalar(select(Subscriber).where(Subscriber.phone == "+15125550106"))
    assert not stopped.active
    assert report.summary() == "3 added, 0 updated, 1 unchanged, 4 rejected"
    assert subscribers.list_counts(db)["public"] == 3


def test_csv_import_adds_lists_to_existing_numbers(db):
    subscribers.add(db, "+15125550101", "Ann", ["public"], "author")
    report = import_csv(db, "+15125550101,Ann,media\n", "author")
    assert [(line.outcome, line.detail) for line in report.lines] == [("updated", "+15125550101: added to media")]


def test_a_foreign_number_is_rejected_on_its_line_and_the_rest_imported_with_consent(db, settings):
    from crisiscast.core.phones import PhonePolicy

    text = "+15125550101,Ann,public\n+2348031234567,Ngozi,public\n+881631234567,Sat,public\n+15125550102,Bo,\n"
    report = import_csv(db, text, "jane", PhonePolicy.of(settings))
    assert [line.outcome for line in report.lines] == ["added", "rejected", "rejected", "added"]
    assert "+2348031234567 is a number in NG; alerts go only to numbers in US" in report.lines[1].detail
    imported = db.scalars(select(Subscriber).order_by(Subscriber.phone)).all()
    assert [s.phone for s in imported] == ["+15125550101", "+15125550102"]
    assert {(s.consent_source, s.consented_by) for s in imported} == {("import", "jane")}
    assert report.added() == ["+15125550101", "+15125550102"]


@pytest.mark.parametrize("raw", ["+15125550101,Zoë,public\n".encode(), "\ufeff+15125550101,Zoë,public\n".encode(),
                                 "+15125550101,Zoë,public\n".encode("latin-1")])
def test_an_upload_is_read_as_utf8_with_or_without_bom_else_latin1(raw):
    assert decode(raw) == "+15125550101,Zoë,public\n"


def test_an_imported_name_loses_its_control_characters(db):
    report = import_csv(db, "+15125550101,Ann\x00\x0b Lee\x1f,public\n", "author")
    assert report.count("added") == 1
    assert db.scalar(select(Subscriber.name)) == "Ann Lee"
