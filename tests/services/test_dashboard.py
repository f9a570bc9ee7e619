"""What the console shows: recent updates, the day's tally, SMS failures, outstanding receipts, a draft's start."""
from datetime import timedelta

from sqlalchemy import update

from crisiscast.services import dashboard
from crisiscast.store.models import Delivery, SmsRecipient, utcnow


def test_recent_updates_are_newest_first_and_limited(db, publish):
    first, second, third = (publish(headline=h, queued=False) for h in ("One", "Two", "Three"))
    assert dashboard.recent_updates(db) == [third, second, first]
    assert dashboard.recent_updates(db, limit=2) == [third, second]


def test_the_tally_counts_the_last_days_deliveries_by_channel_and_state(db, publish):
    publish(channels=("x", "feed"), queued=False)
    old = publish(channels=("x",), queued=False)
    db.execute(update(Delivery).where(Delivery.update_id == old.id).values(created_at=utcnow() - timedelta(days=2)))
    db.execute(update(Delivery).where(Delivery.channel == "feed").values(state="sent"))
    db.commit()
    assert dashboard.delivery_tally(db) == {("x", "pending"): 1, ("feed", "sent"): 1}
    assert dashboard.delivery_tally(db, window=timedelta(days=3)) == {("x", "pending"): 2, ("feed", "sent"): 1}


def test_sms_failures_are_failed_sends_and_undelivered_receipts(db, publish, subscribe):
    people = subscribe("+15125550101", "+15125550102", "+15125550103", "+15125550104")
    sms = publish(channels=("sms",), lists=("public",), queued=False).deliveries[0]
    outcomes = [("failed", None), ("sent", "undelivered"), ("sent", "failed"), ("sent", "delivered")]
    db.add_all([SmsRecipient(delivery_id=sms.id, subscriber_id=person.id, phone=person.phone, state=state,
                             status=status) for person, (state, status) in zip(people, outcomes)])
    db.commit()
    assert [r.phone for r in dashboard.sms_failures(db, sms.id)] == [p.phone for p in people[:3]]
    assert len(dashboard.sms_failures(db, sms.id, limit=1)) == 1


def test_receipts_are_outstanding_until_final():
    assert dashboard.receipts_outstanding({"awaiting receipt": 2, "queued": 1, "sent": 3, "accepted": 1,
                                           "sending": 1, "delivered": 5, "undelivered": 1}) == 8
    assert dashboard.receipts_outstanding({"delivered": 5, "failed": 1}) == 0
    assert dashboard.receipts_outstanding({}) == 0


def test_incident_titles_are_newest_first(db, publish):
    publish(incident="Older", queued=False)
    publish(incident="Newer", queued=False)
    assert dashboard.incident_titles(db) == ["Newer", "Older"]


def test_a_new_draft_starts_from_the_latest_update_or_from_the_one_it_corrects(db, publish):
    assert dashboard.starting_values(db, ["x", "feed"]) == {"channels": ["x", "feed"], "lists": ["public"]}
    original = publish(incident="Fort Hood", er_access="diversion", operating_status="lockdown", headline="Lockdown",
                       body="Stay away.", next_update_at=utcnow() + timedelta(minutes=30), queued=False)
    assert dashboard.starting_values(db, ["x"]) == {
        "incident": "Fort Hood", "er_access": "diversion", "operating_status": "lockdown", "channels": ["x"],
        "lists": ["public"]}
    assert dashboard.starting_values(db, ["x"], corrects=original.uid) == {
        "incident": "Fort Hood", "er_access": "diversion", "operating_status": "lockdown", "corrects": original.uid,
        "headline": "Lockdown", "body": "Stay away.", "next_update_at": original.next_update_at.isoformat(),
        "channels": ["feed"], "lists": []}
    assert dashboard.starting_values(db, ["x"], corrects="0123456789ab")["channels"] == ["x"]


def test_a_new_draft_never_starts_from_a_drill_and_a_correction_of_one_is_ticked_exercise(db, publish):
    publish(incident="Fort Hood", er_access="diversion", operating_status="lockdown", queued=False)
    drill = publish(incident="Evacuation drill", er_access="closed", operating_status="evacuating",
                    channels=("sms",), lists=("drill",), exercise=True, queued=False)
    assert dashboard.starting_values(db, ["x"]) == {
        "incident": "Fort Hood", "er_access": "diversion", "operating_status": "lockdown", "channels": ["x"],
        "lists": ["public"]}
    fix = dashboard.starting_values(db, ["x"], corrects=drill.uid)
    assert (fix["exercise"], fix["channels"], fix["lists"], fix["incident"]) == ("on", ["sms"], ["drill"],
                                                                                 "Evacuation drill")
