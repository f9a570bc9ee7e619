"""An incident's audit log over a period as a HICS 214: only that incident, only that period, per-recipient
entries folded, phone numbers masked, a long period cut with what was left off counted."""
import dataclasses
from datetime import datetime, timedelta, timezone

from crisiscast.core import hics
from crisiscast.core.domain import Draft
from crisiscast.services import hics214
from crisiscast.store import audit
from crisiscast.store.models import utcnow

START = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
WINDOW = hics.Window(START, START + timedelta(hours=12), "", "")
FLOOD = Draft(incident="Flood", er_access="open", operating_status="normal", headline="North lot flooded",
              channels=("sms", "feed"), lists=("public",))


def _entries(db, update_id, entries):
    audit.record_many(db, [{"update_id": update_id, "outcome": "ok", **e} for e in entries])
    db.commit()


def test_only_the_incidents_entries_inside_the_period_start_included_end_excluded(db, publish):
    flood = publish(FLOOD, queued=False)
    other = publish(dataclasses.replace(FLOOD, incident="Power cut"), queued=False)
    _entries(db, flood.id, [
        {"actor": "jane", "action": "publish", "at": START - timedelta(seconds=1), "message": "before"},
        {"actor": "jane", "action": "publish", "at": START, "message": "at the start"},
        {"actor": "omar", "action": "retry", "at": START + timedelta(hours=3), "channel": "x", "message": "middle"},
        {"actor": "jane", "action": "retract", "at": WINDOW.end, "message": "at the end"},
    ])
    _entries(db, other.id, [{"actor": "lee", "action": "publish", "at": START + timedelta(hours=1),
                             "message": "another incident"}])
    log = hics214.activity_log(db, flood.incident, WINDOW, "UTC")
    assert [a.notable for a in log.activities] == [
        f"jane: publish · #{flood.id} “North lot flooded” · ok · at the start",
        f"omar: retry · #{flood.id} “North lot flooded” · X · ok · middle"]
    assert log.names == "jane, omar" and log.more == 0 and log.resume_at is None


def test_per_recipient_entries_are_folded_per_outcome_and_numbers_masked(db, publish):
    flood = publish(FLOOD, queued=False)
    sends = [{"actor": "worker", "action": "send", "channel": "sms", "outcome": "sent", "provider_id": f"SM{n}",
              "target": f"+1 ••••••••{n:02d}", "at": START + timedelta(minutes=n)} for n in range(5)]
    failed = {"actor": "worker", "action": "send", "channel": "sms", "outcome": "failed", "error_code": "21211",
              "target": "+1 ••••••••67", "message": "The 'To' number +15125551267 is not a valid phone number.",
              "at": START + timedelta(minutes=9)}
    receipt = {"actor": "twilio", "action": "delivery_status", "channel": "sms", "outcome": "delivered",
               "target": "+1 ••••••••00", "at": START + timedelta(minutes=20)}
    fanout = {"actor": "worker", "action": "fanout", "channel": "sms", "outcome": "partial",
              "message": "1 of 6 messages failed; first: +15125551267 is not valid", "at": START + timedelta(hours=1)}
    _entries(db, flood.id, [*sends, failed, receipt, fanout])
    log = hics214.activity_log(db, flood.incident, WINDOW, "America/Chicago")
    lines = [a.notable for a in log.activities]
    assert lines == [
        f"worker: send · #{flood.id} “North lot flooded” · SMS · 5 recipients · sent (02:00:00–02:04:00 CST)",
        f"worker: send · #{flood.id} “North lot flooded” · SMS · +1 ••••••••67 · failed · [21211] "
        "The 'To' number +1 ••••••••67 is not a valid phone number.",
        f"twilio: delivery status · #{flood.id} “North lot flooded” · SMS · +1 ••••••••00 · delivered",
        f"worker: fanout · #{flood.id} “North lot flooded” · SMS · partial · "
        "1 of 6 messages failed; first: +1 ••••••••67 is not valid"]
    assert [a.count for a in log.activities] == [5, 1, 1, 1]
    assert "5125551267" not in " ".join(lines)
    assert log.names == ""  # only crisiscast and Twilio acted


def test_a_period_with_more_entries_than_a_form_holds_is_cut_and_says_where_to_continue(db, publish):
    flood = publish(FLOOD, queued=False)
    _entries(db, flood.id, [{"actor": "jane", "action": "retry", "channel": "x", "at": START + timedelta(minutes=n)}
                            for n in range(7)])
    log = hics214.activity_log(db, flood.incident, WINDOW, "UTC", limit=5)
    assert len(log.activities) == 5 and log.more == 2
    assert log.resume_at == START + timedelta(minutes=4)
    rows = hics214.csv_rows(log, "UTC")
    assert rows[-1][5] == "2 more entries were left off: export again from 03/01/2026 08:04 UTC"
    assert hics214.activity_log(db, flood.incident, WINDOW, "UTC", limit=7).more == 0


def test_a_real_publish_and_fan_out_in_the_last_operational_period(db, publish, drain, subscribe):
    subscribe(*(f"+1512555{n:04d}" for n in range(12)))
    update = publish(FLOOD)
    drain()
    window = hics.parse_window("", "", utcnow() + timedelta(seconds=1), "UTC")
    log = hics214.activity_log(db, update.incident, window, "UTC")
    lines = [a.notable for a in log.activities]
    assert lines[0] == (f"author: publish · #{update.id} “North lot flooded” · ok · "
                        "North lot flooded → SMS, RSS/Atom feed")
    assert any("SMS · 12 recipients · sent" in line for line in lines), lines
    assert any(line.startswith("worker: fanout") and "12 sent" in line for line in lines), lines
    assert any(line.startswith("worker: send") and "RSS/Atom feed" in line for line in lines), lines
    assert not any("+1512555" in line for line in lines)
    assert log.names == "author"


def test_the_csv_rows_carry_the_incident_period_and_forms_columns(db, publish):
    flood = publish(FLOOD, queued=False)
    _entries(db, flood.id, [{"actor": "jane", "action": "publish", "at": START + timedelta(hours=2)}])
    rows = hics214.csv_rows(hics214.activity_log(db, flood.incident, WINDOW, "America/Chicago"), "America/Chicago")
    assert rows[0] == list(hics214.CSV_HEADER)
    assert rows[1][:6] == ["Flood", "03/01/2026 02:00 CST", "03/01/2026 14:00 CST", "03/01/2026", "04:00:00 CST",
                           f"jane: publish · #{flood.id} “North lot flooded” · ok"]
    assert rows[1][6:] == ["jane", "ok", str(flood.id), "1"]


def test_the_latest_incidents_come_first(db, publish):
    publish(FLOOD, queued=False)
    publish(dataclasses.replace(FLOOD, incident="Power cut"), queued=False)
    assert [i.title for i in hics214.incidents(db)] == ["Power cut", "Flood"]
