"""The update page: a card per channel and SMS progress counted from the recipients' rows as recorded."""
from datetime import timedelta

from crisiscast.store.models import Delivery, SmsRecipient, utcnow


def test_sms_progress_shows_sent_failed_pending_rate_and_time_left_mid_run(client, auth, db, publish, subscribe):
    people = subscribe(*(f"+1512555{n:04d}" for n in range(10)))
    update = publish(channels=("sms",), lists=("public",), queued=False)
    delivery = db.query(Delivery).filter_by(update_id=update.id).one()
    start = utcnow() - timedelta(seconds=10)
    states = ["sent"] * 3 + ["failed"] + ["pending"] * 6
    db.add_all(SmsRecipient(delivery_id=delivery.id, subscriber_id=s.id, phone=s.phone, state=state,
                            claimed_at=start if state != "pending" else None,
                            updated_at=start + timedelta(seconds=2) if state != "pending" else start)
               for s, state in zip(people, states))
    db.commit()
    auth.login("viewer")
    fragment = client.get(f"/updates/{update.id}/deliveries").get_data(as_text=True)
    assert "3 sent · 1 failed · 6 pending · of 10" in fragment
    assert "· 2.0 texts/s · about 3 s to go" in fragment  # 4 done in 2 s; 6 left
    assert 'data-moving="1"' in fragment  # the page keeps refreshing itself


def test_a_failed_channel_shows_its_reason_and_retry_on_its_card(client, auth, db, publish, drain, sandbox_client):
    sandbox_client.configure(script={"x": ["permanent"]})
    update = publish(channels=("x", "feed"))
    drain()
    auth.login("author")
    page = client.get(f"/updates/{update.id}").get_data(as_text=True)
    card = page.split('data-channel="x"', 1)[1].split("</li>", 1)[0]
    assert "state-failed" in card and "duplicate content" in card and "Retry X</button>" in card
    assert page.index('id="deliveries"') < page.index('class="statuses"')  # the channels come first
