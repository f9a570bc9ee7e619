"""The audit log page filters by update and channel, and downloads as CSV."""
import csv
import io

from crisiscast.store import audit


def test_filter_by_update_and_channel_and_download_csv(client, auth, db):
    audit.record(db, actor="worker", action="send", outcome="sent", update_id=7, channel="sms",
                 target="+1 ••••••••67", provider_id="SM1")
    audit.record(db, actor="worker", action="send", outcome="sent", update_id=7, channel="x", provider_id="99")
    audit.record(db, actor="worker", action="send", outcome="failed", update_id=8, channel="sms", error_code="21211")
    db.commit()
    auth.login("viewer")
    page = client.get("/audit?update=7&channel=sms").get_data(as_text=True)
    assert "SM1" in page and "21211" not in page and ">99<" not in page
    response = client.get("/audit.csv?channel=sms")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(r["provider_id"] or r["error_code"] for r in rows) == ["21211", "SM1"]
