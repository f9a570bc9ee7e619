"""The drill report: an exercise composed, previewed and published through the console, sent by a real worker,
then its report as a page and as CSV: the timeline from the first autosave, counts and failures, numbers masked."""
import csv
import io
import re

from sqlalchemy import select
from sqlalchemy import update as sql_update

from crisiscast.store.models import SmsRecipient, Update
from tests.web.test_console import compose_form, preview_then_publish

DRILL_STAFF = ("+15125550180", "+15125550181")
INVALID = "+15005550001"  # the sandbox answers 21211, as Twilio's magic number does


def publish_drill(client, auth, subscribe, drain):
    subscribe(*DRILL_STAFF, INVALID, lists=("drill",))
    auth.login("author")
    form = compose_form(client, exercise="on", lists=["drill"])
    assert client.post("/updates/draft", data=form).status_code == 200  # the composer's autosave
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert 'class="exercise-banner"' in preview and "Publish exercise to 1 channel · 3 texts" in preview
    assert "X: skipped. Exercise: X is not used for drills (EXERCISE_SOCIAL=off)." in preview
    assert "EXERCISE - Scott &amp; White: ER open with delays" in preview
    published = preview_then_publish(client, form)
    assert published.status_code == 302, published.get_data(as_text=True)
    drain()
    return int(published.headers["Location"].rsplit("/", 1)[1])


def test_the_drill_report_shows_the_timeline_counts_and_failures(client, auth, db, subscribe, drain):
    update_id = publish_drill(client, auth, subscribe, drain)
    update = db.scalar(select(Update).where(Update.id == update_id))
    assert update.exercise and update.composed_at is not None and update.composed_at <= update.published_at
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert "<title>EXERCISE — ER open with delays" in page and 'class="exercise-banner"' in page
    assert f'href="/updates/{update_id}/drill-report"' in page
    assert 'class="exercise-tag"' in client.get("/").get_data(as_text=True)
    report = client.get(f"/updates/{update_id}/drill-report")
    assert report.status_code == 200
    html = report.get_data(as_text=True)
    assert "Drill report: EXERCISE — ER open with delays" in html and 'class="exercise-banner"' in html
    sms_row = re.search(r'<tr data-channel="sms">.*?</tr>', html, re.S).group(0)
    assert "partial" in sms_row and "2 sent · 1 failed · 0 in doubt · 0 cancelled" in sms_row
    assert "[exercise] Exercise: the public feed is never used for a drill." in html
    failures = re.search(r'<table class="stack" id="report-failures">.*?</table>', html, re.S).group(0)
    assert "+1 ••••••••01" in failures and "[21211]" in failures
    timeline = re.search(r'id="report-timeline">.*?</table>', html, re.S).group(0)
    order = [timeline.index(w) for w in ("compose started (first autosave)", ">publish<", "send (per recipient) × 2",
                                         ">fanout<")]
    assert order == sorted(order)
    assert not any(number in html for number in (*DRILL_STAFF, INVALID))


def test_the_drill_report_csv_has_every_section_and_masks_numbers(client, auth, db, subscribe, drain):
    update_id = publish_drill(client, auth, subscribe, drain)
    response = client.get(f"/updates/{update_id}/drill-report.csv")
    assert response.mimetype == "text/csv"
    assert f'filename="crisiscast-drill-report-{update_id}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_section = {s: [r for r in rows if r["section"] == s] for s in ("timeline", "channel", "failure")}
    assert [r["what"] for r in by_section["timeline"]][:2] == ["compose started (first autosave)", "publish"]
    sms = next(r for r in by_section["channel"] if r["channel"] == "SMS")
    assert sms["outcome"] == "partial" and sms["detail"].startswith("sent 2; failed 1; in doubt 0; cancelled 0")
    assert "[21211]" in sms["detail"] and sms["at"] <= sms["until"]
    x = next(r for r in by_section["channel"] if r["channel"] == "X")
    assert (x["outcome"], x["at"]) == ("skipped", "") and "EXERCISE_SOCIAL=off" in x["detail"]
    assert [(r["channel"], r["what"]) for r in by_section["failure"] if r["what"].startswith("+1")] == \
        [("SMS", "+1 ••••••••01")]
    assert not any(number in response.get_data(as_text=True) for number in (*DRILL_STAFF, INVALID))


def test_any_update_has_a_timeline_report_that_starts_at_its_publish(client, auth, publish, drain):
    update = publish()
    drain()
    auth.login("viewer")
    html = client.get(f"/updates/{update.id}/drill-report").get_data(as_text=True)
    assert "Timeline report: Drill" in html and 'class="exercise-banner"' not in html
    timeline = re.search(r'id="report-timeline">.*?</table>', html, re.S).group(0)
    assert "compose started" not in timeline and timeline.index(">publish<") < timeline.index(">send<")
    assert 'id="report-no-failures"' in html
    assert client.get("/updates/999999/drill-report").status_code == 404
    assert client.get("/updates/999999/drill-report.csv").status_code == 404


def test_a_number_named_in_a_providers_error_is_masked_in_the_report(client, auth, db, subscribe, drain):
    update_id = publish_drill(client, auth, subscribe, drain)
    # Twilio's own message for 21211 names the number ("The 'To' number +1… is not a valid phone number.")
    db.execute(sql_update(SmsRecipient).where(SmsRecipient.phone == INVALID).values(
        error_message=f"The 'To' number {INVALID} is not a valid phone number."))
    db.commit()
    for path in (f"/updates/{update_id}/drill-report", f"/updates/{update_id}/drill-report.csv"):
        body = client.get(path).get_data(as_text=True)
        assert "number +1 ••••••••01 is not a valid phone number." in body and INVALID not in body, path
