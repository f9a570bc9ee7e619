"""Subscribers and lists: normalised numbers, opt-outs that stick, counts and search, creating lists."""
import pytest
from sqlalchemy import select

from crisiscast.core.domain import ValidationError
from crisiscast.core.phones import PhonePolicy
from crisiscast.services import subscribers
from crisiscast.store.models import AuditEvent, Subscriber

FOREIGN = ["+881631234567", "+2348031234567", "+8613812345678", "+18765551234"]  # satellite, NG, CN, Jamaica (+1)


def test_numbers_are_normalised_to_e164_and_invalid_ones_refused_with_the_reason(db):
    added = subscribers.add(db, "(512) 555-1267", "Ann", ["public", "media"], "author")
    assert added.phone == "+15125551267" and [lst.name for lst in added.lists] == ["media", "public"]
    with pytest.raises(ValidationError) as exc:
        subscribers.add(db, "555-12", "", ["public"], "author")
    assert "555-12" in exc.value.errors["phone"]
    uk_too = PhonePolicy("US", ("US", "GB"))
    assert subscribers.add(db, "+44 20 7946 0958", "", ["media"], "author", uk_too).phone == "+442079460958"


@pytest.mark.parametrize("number", FOREIGN)
def test_staff_cannot_add_a_number_outside_the_allowed_countries(db, settings, number):
    with pytest.raises(ValidationError) as exc:
        subscribers.add(db, number, "", ["public"], "author", PhonePolicy.of(settings))
    assert "alerts go only to numbers in US (SMS_ALLOWED_COUNTRIES)" in exc.value.errors["phone"]
    assert db.scalar(select(Subscriber)) is None


def test_allowed_countries_come_from_the_setting_else_the_default_region(settings):
    assert PhonePolicy.of(settings).allowed == ("US",)
    assert PhonePolicy.of(settings.replace(SMS_DEFAULT_REGION="GB")).allowed == ("GB",)
    both = PhonePolicy.of(settings.replace(SMS_ALLOWED_COUNTRIES="US, CA"))
    assert both.allows("+14165550123") and not both.allows("+18765551234")


def test_staff_add_records_consent_who_and_when(db):
    added = subscribers.add(db, "+15125551267", "", ["public"], "jane")
    assert (added.consent_source, added.consented_by) == ("staff", "jane") and added.consented_at is not None


def test_a_number_that_texted_stop_cannot_be_added_back_by_staff(db):
    subscribers.add(db, "+15125551267", "", ["public"], "author")
    subscribers.opt_out(db, "+15125551267")
    db.commit()
    with pytest.raises(ValidationError) as exc:
        subscribers.add(db, "+15125551267", "", ["public"], "author")
    assert "texted STOP" in exc.value.errors["phone"] and "JOIN" in exc.value.errors["phone"]


def test_a_number_staff_removed_can_be_added_back(db):
    added = subscribers.add(db, "+15125551267", "", ["public"], "author")
    subscribers.remove(db, added.id, "author")
    assert subscribers.add(db, "+15125551267", "", ["media"], "author").active
    assert [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
        "subscriber_added", "subscriber_removed", "subscriber_added"]


def test_counts_per_list_and_audience_count_each_number_once(db):
    subscribers.add(db, "+15125550001", "", ["public", "media"], "author")
    subscribers.add(db, "+15125550002", "", ["media"], "author")
    gone = subscribers.add(db, "+15125550003", "", ["public"], "author")
    subscribers.remove(db, gone.id, "author")
    assert subscribers.list_counts(db) == {"public": 1, "media": 2, "staff-on-call": 0, "drill": 0}
    assert subscribers.audience_count(db, ["public", "media"]) == 2


def test_search_by_digits_name_and_list(db):
    subscribers.add(db, "+15125551267", "Ann Lee", ["public"], "author")
    subscribers.add(db, "+15125550188", "Bob", ["media"], "author")
    assert [s.name for s in subscribers.search(db, "1267")] == ["Ann Lee"]
    assert [s.name for s in subscribers.search(db, "bob")] == ["Bob"]
    assert [s.name for s in subscribers.search(db, "", "public")] == ["Ann Lee"]


def test_a_list_is_created_with_a_clean_name_and_audited(db):
    created = subscribers.create_list(db, "  Night-Shift ", " Who works nights ", True, "admin", public=True)
    assert (created.name, created.description, created.joinable, created.public) == (
        "night-shift", "Who works nights", True, True)
    assert "night-shift" in subscribers.list_counts(db)
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "list_created"))
    assert (event.actor, event.target, event.channel, event.message) == (
        "admin", "night-shift", "sms", "public, joinable by text")


def test_a_new_list_is_internal_unless_marked_public(db):
    created = subscribers.create_list(db, "managers", "", False, "admin")
    assert created.public is False and subscribers.public_flags(db)["managers"] is False


def test_a_list_anyone_can_join_must_be_public(db):
    with pytest.raises(ValidationError) as exc:
        subscribers.create_list(db, "open-internal", "", True, "admin", public=False)
    assert "mark it public" in exc.value.errors["public"]
    db.rollback()
    assert "open-internal" not in subscribers.public_flags(db)


def test_the_seeded_lists_say_who_they_reach(db):
    lists = {lst.name: (lst.public, lst.joinable) for lst in subscribers.all_lists(db)}
    assert lists == {"public": (True, True), "media": (True, False), "staff-on-call": (False, False),
                     "drill": (False, False)}


def test_changing_a_lists_flags_is_audited_and_refuses_joinable_internal(db):
    staff = next(lst for lst in subscribers.all_lists(db) if lst.name == "staff-on-call")
    with pytest.raises(ValidationError):
        subscribers.set_flags(db, staff.id, public=False, joinable=True, actor="admin")
    db.rollback()
    subscribers.set_flags(db, staff.id, public=True, joinable=False, actor="admin")
    subscribers.set_flags(db, staff.id, public=True, joinable=False, actor="admin")  # no change, no entry
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "list_changed")).all()
    assert [(e.actor, e.target, e.message) for e in events] == [
        ("admin", "staff-on-call", "internal, staff add only → public, staff add only")]


@pytest.mark.parametrize("name, message", [
    ("", "A list name is letters, digits and dashes (at most 40)."),
    ("night shift", "A list name is letters, digits and dashes (at most 40)."),
    ("x" * 41, "A list name is letters, digits and dashes (at most 40)."),
    ("Public", "There is already a list named public."),
])
def test_a_bad_or_taken_list_name_is_refused_and_nothing_is_stored(db, name, message):
    before = [lst.name for lst in subscribers.all_lists(db)]
    with pytest.raises(ValidationError) as exc:
        subscribers.create_list(db, name, "", False, "admin")
    assert exc.value.errors == {"name": message}
    assert [lst.name for lst in subscribers.all_lists(db)] == before
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "list_created")) is None


def test_a_pasted_name_loses_its_control_characters_and_line_breaks(db):
    added = subscribers.add(db, "+15125550101", " Ann\x0bLee\x01 ", ["public"], "author")
    assert added.name == "Ann Lee"
