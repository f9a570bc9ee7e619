"""Lookups by public identifier."""
from crisiscast.store.queries import incident_by_slug, update_by_uid


def test_an_update_is_found_by_uid_and_an_incident_by_slug(db, publish):
    published = publish(incident="Water main break", queued=False)
    assert update_by_uid(db, published.uid) == published
    assert incident_by_slug(db, published.incident.slug) == published.incident
    assert update_by_uid(db, "0123456789ab") is None and incident_by_slug(db, "no-such-incident") is None
