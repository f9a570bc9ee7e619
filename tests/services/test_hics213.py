"""An update as a HICS 213: its blocks hold the update's incident, author, headline, statuses, text as sent on
each channel, priority and approval."""
import csv
import io
import re
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from crisiscast.core.domain import Draft
from crisiscast.services import hics213
from tests.conftest import csrf_token

DIVERSION = Draft(incident="Fort Hood shooting response", er_access="diversion", operating_status="limited",
                  headline="ER on ambulance diversion", body="Walk-in patients use the north entrance.",
                  next_update_at=datetime(2026, 12, 7, 20, 30, tzinfo=timezone.utc), channels=("sms", "x", "feed"),
                  lists=("public", "media"))


def test_the_blocks_hold_the_update_as_published_and_as_sent(db, publish, drain, subscribe, users):
    subscribe("+15125551267", lists=("public", "media"))
    update = publish(DIVERSION)
    drain()
    db.expire_all()
    form = hics213.general_message(update, "America/Chicago")
    assert form.incident_name == "Fort Hood shooting response"
    assert form.to == ("The public", "Recipients on the channels listed under 8. Message")
    assert form.sender == ("author", "Public Information Officer")
    assert form.subject == "ER on ambulance diversion"
    local = update.published_at.astimezone(ZoneInfo("America/Chicago"))
    assert form.date == local.strftime("%m/%d/%Y") and form.time == local.strftime("%H:%M ") + local.tzname()
    assert form.priority == "Urgent - High"
    assert form.message.splitlines()[:4] == ["ER access: On ambulance diversion",
                                             "Hospital: Limited: elective procedures postponed", "",
                                             "ER on ambulance diversion"]
    assert "Walk-in patients use the north entrance." in form.message
    assert re.search(r"Next update by (\w{3} )?14:30 CST\.", form.message)  # as the channels said it
    assert form.approved_by == "Released by the author (approval not required)"
    sent = {s.label: s for s in form.sent_on}
    assert set(sent) == {"SMS", "X", "RSS/Atom feed"}
    assert sent["SMS"].lists == "public, media" and sent["SMS"].state == "sent"
    sms = next(d for d in update.deliveries if d.channel == "sms")
    assert sent["SMS"].text == sms.rendering["text"] and sent["SMS"].text.startswith("Scott & White")
    assert sent["X"].provider_id and "ER on ambulance diversion" in sent["X"].text


def test_an_internal_update_is_addressed_to_staff_and_a_retraction_is_in_its_message(db, client, auth, publish):
    update = publish(channels=("sms",), lists=("staff-on-call",), queued=False)
    form = hics213.general_message(update, "UTC")
    assert form.to[0] == "Hospital staff (internal: not public)"
    assert form.priority == "Informational - Low"
    public = publish(queued=False)
    auth.login("author")
    client.post(f"/updates/{public.id}/retract", data={"reason": "Sent in error",
                                                        "csrf_token": csrf_token(client, f"/updates/{public.id}")})
    db.expire_all()
    assert "RETRACTED" in hics213.general_message(public, "UTC").message
    assert "Sent in error" in hics213.general_message(public, "UTC").message


def test_approval_is_read_in_one_place_approved_break_glass_or_not_required():
    author = SimpleNamespace(username="jane")
    direct = SimpleNamespace(author=author, release="direct", approved_by=None)
    assert hics213.approval_line(direct, "UTC") == hics213.NOT_REQUIRED
    approved = SimpleNamespace(author=author, release="approved", approved_by=SimpleNamespace(username="chief"),
                               approved_at=datetime(2026, 12, 7, 20, 5, tzinfo=timezone.utc))
    assert hics213.approval_line(approved, "America/Chicago") == "chief, approved 12/07/2026 14:05 CST"
    glass = SimpleNamespace(author=author, release="break_glass", release_reason="No approver answered in 5 min",
                            approved_by=None)
    line = hics213.approval_line(glass, "UTC")
    assert line.startswith("NOT APPROVED") and "break-glass" in line and "No approver answered" in line


def test_the_csv_has_the_forms_fields_and_one_row(db, publish):
    update = publish(DIVERSION, queued=False)
    rows = hics213.csv_rows(hics213.general_message(update, "UTC"))
    parsed = list(csv.DictReader(io.StringIO(_to_csv(rows))))
    assert len(parsed) == 1
    row = parsed[0]
    assert list(row)[:10] == ["Incident Name", "To: Print Name", "To: Position", "From: Print Name",
                              "From: Position", "Subject", "Date", "Time", "Priority", "Message"]
    assert row["Approved by: Print Name"] == "Released by the author (approval not required)"
    assert row["Priority"] == "Urgent - High" and row["Response Required"] == "no"
    assert "As sent:\nSMS (lists: public, media) [pending]:" in row["Message"]
    assert row["Approved by: Signature"] == "" and row["Reply / Action Taken"] == ""


def _to_csv(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
