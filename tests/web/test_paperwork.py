"""The HICS 213 and 214 pages and CSVs: the forms' blocks by name, printable, for every role, linked from the
console; a bad period answers a 400 page that keeps what was typed."""
import csv
import io
import re
from datetime import timedelta

import pytest

from crisiscast.core.domain import Draft
from crisiscast.runtime import Runtime
from crisiscast.services import hics214
from crisiscast.store import audit
from crisiscast.store.models import utcnow
from crisiscast.web import create_app
from tests.conftest import PASSWORD
from tests.support.routes import signed_in

LOCKDOWN = Draft(incident="Lockdown drill", er_access="open", operating_status="lockdown",
                 headline="Campus locked down", body="Do not come to campus.", channels=("sms", "feed"),
                 lists=("public",))


def _blocks(page: str) -> dict[str, str]:
    """Each block's title, by its number."""
    return dict(re.findall(r'data-block="(\d+)"><span class="block-title">([^<]+)</span>', page))


def test_hics_213_shows_every_block_with_the_forms_name_and_the_updates_values(client, auth, publish, drain,
                                                                              subscribe):
    subscribe("+15125551267")
    update = publish(LOCKDOWN)
    drain()
    auth.login("viewer")
    response = client.get(f"/updates/{update.id}/hics-213")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _blocks(page) == {"1": "1. Incident Name", "2": "2. To", "3": "3. From", "4": "4. Subject",
                             "5": "5. Date", "6": "6. Time", "7": "7. Priority", "8": "8. Message",
                             "9": "9. Approved by", "10": "10. Reply / Action Taken", "11": "11. Replied by"}
    assert "HICS 213 - General Message Form" in page and "Lockdown drill" in page
    assert "☒ Urgent - High" in page and "☐ Informational - Low" in page
    assert "Public Information Officer" in page and "Do not come to campus." in page
    assert 'id="approved-by">Released by the author (approval not required)<' in page
    assert page.count('class="sign-line"') == 6  # approver's signature, and the reply's five lines
    assert "paperwork.css" in page and "15125551267" not in page


def test_hics_213_csv_parses_with_the_forms_headers(client, auth, publish):
    update = publish(LOCKDOWN, queued=False)
    auth.login("viewer")
    response = client.get(f"/updates/{update.id}/hics-213?format=csv")
    assert response.mimetype == "text/csv"
    assert f'filename="hics-213-update-{update.id}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1 and rows[0]["Incident Name"] == "Lockdown drill"
    assert rows[0]["Subject"] == "Campus locked down" and rows[0]["Priority"] == "Urgent - High"
    assert rows[0]["From: Print Name"] == "author" and rows[0]["From: Position"] == "Public Information Officer"


def test_a_formula_in_a_headline_is_defused_in_the_csv(client, auth, publish):
    update = publish(LOCKDOWN, headline="=HYPERLINK(\"http://evil\")", queued=False)
    auth.login("viewer")
    rows = list(csv.DictReader(io.StringIO(client.get(f"/updates/{update.id}/hics-213?format=csv")
                                           .get_data(as_text=True))))
    assert rows[0]["Subject"].startswith("'=")


def test_hics_214_shows_the_blocks_the_period_and_the_masked_log(client, auth, db, publish):
    update = publish(LOCKDOWN, queued=False)
    audit.record(db, actor="worker", action="send", outcome="failed", update_id=update.id, channel="x",
                 error_code="400", message="refused for +15125551267")
    db.commit()
    auth.login("viewer")
    page = client.get(f"/incidents/{update.incident_id}/hics-214").get_data(as_text=True)
    assert _blocks(page) == {"1": "1. Incident Name", "2": "2. Operational Period", "3": "3. Name",
                             "4": "4. Hospital Incident Management Team (HIMT) Position", "5": "5. Activity Log",
                             "6": "6. Prepared by"}
    assert "HICS 214 - Activity Log" in page and "<th>Notable Activities</th>" in page
    assert f"author: publish · #{update.id}" in page and "refused for +1 ••••••••67" in page
    assert "15125551267" not in page
    assert 'name="from"' in page and 'maxlength="19"' in page and "Date/Time From" in page


def test_hics_214_csv_parses_with_the_forms_headers_and_filters_the_period(client, auth, db, publish, settings):
    update = publish(LOCKDOWN, queued=False)
    audit.record_many(db, [{"actor": "jane", "action": "retry", "outcome": "ok", "update_id": update.id,
                            "at": utcnow() - timedelta(days=3)}])
    db.commit()
    auth.login("viewer")
    response = client.get(f"/incidents/{update.incident_id}/hics-214?format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[:6] == ["Incident Name", "Operational Period: Date/Time From",
                                 "Operational Period: Date/Time To", "Date", "Time", "Notable Activities"]
    assert [r["Who"] for r in rows] == ["author"]  # three days ago is outside the last 12 hours
    back = (utcnow() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    rows = list(csv.DictReader(io.StringIO(client.get(f"/incidents/{update.incident_id}/hics-214",
                                                      query_string={"from": back, "format": "csv"})
                                           .get_data(as_text=True))))
    assert [r["Who"] for r in rows] == ["jane", "author"]


@pytest.mark.parametrize("query, says", [
    ({"from": "2026-12-07T14:00", "to": "2026-12-07T08:00"}, "The end of the period must be after its start."),
    ({"from": "2026-01-01T00:00", "to": "2026-12-07T08:00"}, "A period covers at most 31 days"),
    ({"from": "tomorrow"}, "Date/Time From: give a date and time such as 2026-12-07T14:05."),
    ({"to": "2026-02-30T10:00"}, "Date/Time To: 2026-02-30T10:00 is not a date and time that exists."),
    ({"from": "9" * 100_000}, "Date/Time From: give a date and time"),
    ({"to": "0001-01-01T00:00"}, "give a Date/Time From"),  # its 12 hours before are off the calendar
])
def test_a_bad_period_is_a_400_page_that_says_why_and_keeps_the_form(client, auth, publish, query, says):
    update = publish(queued=False)
    auth.login("viewer")
    for fmt in ("", "csv"):
        response = client.get(f"/incidents/{update.incident_id}/hics-214", query_string={**query, "format": fmt})
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and response.mimetype == "text/html"
        assert says in page and "Nothing was exported." in page and 'id="period"' in page
        assert 'id="hics-214"' not in page and len(page) < 20_000
    if len(query.get("from", "")) <= 19:
        assert f'value="{query.get("from", "")}"' in page  # what was typed stays in the form


def test_unknown_updates_and_incidents_are_404(client, auth):
    auth.login("viewer")
    assert client.get("/updates/999/hics-213").status_code == 404
    assert client.get("/incidents/999/hics-214").status_code == 404
    assert client.get("/incidents/99999999999/hics-214").status_code == 404


def test_signed_out_goes_to_sign_in(client, publish):
    update = publish(queued=False)
    for path in (f"/updates/{update.id}/hics-213", f"/incidents/{update.incident_id}/hics-214"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location


def test_a_log_longer_than_one_form_is_cut_at_the_default_and_links_to_where_the_next_starts(client, auth, db,
                                                                                             publish):
    update = publish(queued=False)
    start = utcnow() - timedelta(hours=11)
    audit.record_many(db, [{"actor": "jane", "action": "retry", "outcome": "ok", "update_id": update.id,
                            "at": start + timedelta(seconds=n)} for n in range(hics214.ROWS_MAX + 3)])
    db.commit()
    auth.login("viewer")
    page = client.get(f"/incidents/{update.incident_id}/hics-214").get_data(as_text=True)
    assert 'id="more"' in page and "4 more entries than one form shows" in page  # 1,003 retries and the publish
    assert page.count("jane: retry") == hics214.ROWS_MAX
    resume = (start + timedelta(seconds=hics214.ROWS_MAX - 1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert f"&amp;from={resume}\">Continue from" in page
    rows = list(csv.DictReader(io.StringIO(client.get(f"/incidents/{update.incident_id}/hics-214?format=csv")
                                           .get_data(as_text=True))))
    assert len(rows) == hics214.ROWS_MAX + 4  # the CSV holds up to CSV_ROWS_MAX: all of them


def test_the_update_page_and_dashboard_link_to_the_paperwork(client, auth, publish):
    update = publish(queued=False)
    auth.login("viewer")
    page = client.get(f"/updates/{update.id}").get_data(as_text=True)
    assert f'href="/updates/{update.id}/hics-213" id="hics-213-link"' in page
    assert f'href="/incidents/{update.incident_id}/hics-214" id="hics-214-link"' in page
    dashboard = client.get("/").get_data(as_text=True)
    assert f'href="/incidents/{update.incident_id}/hics-214">HICS 214 activity log</a>' in dashboard


def test_times_are_in_the_hospitals_zone(settings, users, publish):
    chicago = Runtime(settings.replace(TIMEZONE="America/Chicago"))
    try:
        client = signed_in(create_app(chicago.settings, chicago), "viewer", PASSWORD)
        update = publish(queued=False)
        page = client.get(f"/incidents/{update.incident_id}/hics-214").get_data(as_text=True)
        form = client.get(f"/updates/{update.id}/hics-213").get_data(as_text=True)
    finally:
        chicago.close()
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d C[SD]T", page) and "America/Chicago" in page
    assert re.search(r'data-block="6"><span class="block-title">6. Time</span><p>\d\d:\d\d C[SD]T</p>', form)


def test_a_period_without_activity_says_so_and_its_csv_is_the_header_alone(client, auth, publish):
    update = publish(queued=False)
    auth.login("viewer")
    period = {"from": "2026-01-01T00:00", "to": "2026-01-01T12:00"}
    page = client.get(f"/incidents/{update.incident_id}/hics-214", query_string=period).get_data(as_text=True)
    assert 'id="no-activity"' in page and "01/01/2026 00:00 UTC" in page and "01/01/2026 12:00 UTC" in page
    data = client.get(f"/incidents/{update.incident_id}/hics-214", query_string={**period, "format": "csv"})
    assert list(csv.reader(io.StringIO(data.get_data(as_text=True)))) == [list(hics214.CSV_HEADER)]
