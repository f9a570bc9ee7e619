"""Lookups by public identifier; the public ones find nothing internal."""
from crisiscast.core.domain import Draft
from crisiscast.store.queries import public_incident_by_slug, public_update_by_uid, update_by_uid

STAFF = Draft(incident="Code silver", er_access="open", operating_status="normal", headline="Code silver",
              channels=("sms",), lists=("staff-on-call",))


def test_an_update_is_found_by_uid_and_an_incident_by_slug(db, publish):
    published = publish(incident="Water main break", queued=False)
    assert update_by_uid(db, published.uid) == public_update_by_uid(db, published.uid) == published
    assert public_incident_by_slug(db, published.incident.slug) == published.incident
    assert update_by_uid(db, "0123456789ab") is None and public_incident_by_slug(db, "no-such-incident") is None


def test_an_internal_update_and_its_incident_are_not_found_publicly(db, publish):
    internal = publish(STAFF, queued=False)
    assert update_by_uid(db, internal.uid) == internal  # the console still finds it
    assert public_update_by_uid(db, internal.uid) is None
    assert public_incident_by_slug(db, internal.incident.slug) is None
    publish(STAFF, channels=("sms", "feed"), queued=False)  # a public update of the same incident
    assert public_incident_by_slug(db, internal.incident.slug) == internal.incident
