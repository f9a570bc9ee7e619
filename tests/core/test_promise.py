"""The promise of the next update: clock times in the hospital's zone, how they read, and when they are overdue."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crisiscast.core import promise
from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.promise import Clock, Promise, PromiseError

CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc


def at(text: str, zone=CHICAGO) -> datetime:
    """A local time in `zone` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def test_a_later_clock_time_is_today_and_an_earlier_one_tomorrow():
    now = at("2026-12-07 23:10")
    assert promise.resolve_clock("23:40", now, CHICAGO) == at("2026-12-07 23:40")
    assert promise.resolve_clock("02:30", now, CHICAGO) == at("2026-12-08 02:30")
    assert promise.resolve_clock("9:05", at("2026-12-07 08:00"), CHICAGO) == at("2026-12-07 09:05")


def test_a_clock_time_that_passed_within_the_hour_is_refused_with_the_time_it_is_now():
    now = at("2026-12-07 14:05")
    with pytest.raises(PromiseError, match=r"14:00 has passed: it is 14:05 CST now"):
        promise.resolve_clock("14:00", now, CHICAGO)
    with pytest.raises(PromiseError, match="has passed"):
        promise.resolve_clock("14:05", now, CHICAGO)  # now itself is no promise
    # just over an hour ago: that time tomorrow, which the weekday in the rendering spells out
    assert promise.resolve_clock("13:04", now, CHICAGO) == at("2026-12-08 13:04")


@pytest.mark.parametrize("typed", ["", "25:00", "14:60", "2pm", "14.30", "1430", "14:3"])
def test_what_is_not_a_clock_time_is_refused(typed):
    with pytest.raises(PromiseError, match="hours and minutes"):
        promise.resolve_clock(typed, at("2026-12-07 12:00"), CHICAGO)


def test_across_a_daylight_saving_change_the_promise_is_the_real_instant():
    # 2027-03-14 02:00 CST the clocks jump to 03:00 CDT: 02:30 does not exist; it is the instant after the jump.
    now = at("2027-03-14 01:00")
    resolved = promise.resolve_clock("02:30", now, CHICAGO)
    assert resolved - now == timedelta(hours=1, minutes=30)
    assert promise.describe(resolved, CHICAGO, now) == "03:30 CDT"


def test_quick_picks_round_up_to_the_minute_in_the_zone():
    now = at("2026-12-07 23:50:20")
    assert promise.after_minutes(15, now, CHICAGO) == "00:06"
    assert promise.after_minutes(60, at("2026-12-07 10:00"), CHICAGO) == "11:00"


def test_the_line_names_the_zone_and_the_weekday_when_it_is_not_today():
    now = at("2026-12-07 23:10")
    assert promise.line(at("2026-12-07 23:40"), False, CHICAGO, now) == "Next update by 23:40 CST."
    assert promise.line(at("2026-12-08 02:30"), False, CHICAGO, now) == "Next update by Tue 02:30 CST."
    assert promise.line(None, True, CHICAGO, now) == "No further updates planned."
    assert promise.line(None, False, CHICAGO, now) == ""


def test_settle_form_turns_a_quick_pick_or_a_kept_instant_into_the_clock_time():
    clock = Clock(at("2026-12-07 14:00"), CHICAGO)
    assert promise.settle_form({"next_in": "30", "no_further_updates": "1"}, clock) == {"next_at": "14:30"}
    kept = at("2026-12-07 15:00").isoformat()
    assert promise.settle_form({"next_update_at": kept}, clock) == {"next_at": "15:00"}
    assert promise.settle_form({"next_update_at": at("2026-12-07 13:00").isoformat()}, clock) == {}
    assert promise.settle_form({"next_in": "0"}, clock) == {}
    assert promise.settle_form({"next_in": "1441"}, clock) == {}
    assert promise.settle_form({"next_in": "²"}, clock) == {} and promise.settle_form({"next_in": "9" * 5000}, clock) == {}
    assert promise.settle_form({"next_update_at": "garbage"}, clock) == {}


def base_form(**fields) -> dict:
    return {"incident": "Fort Hood", "er_access": "open", "operating_status": "normal", "headline": "ER open",
            "channels": ["feed"], **fields}


def test_a_draft_resolves_its_clock_time_and_refuses_a_past_one_or_both_choices():
    clock = Clock(at("2026-12-07 14:05"), CHICAGO)
    draft = Draft.from_form(base_form(next_at="15:00"), clock)
    draft.validate()
    assert draft.next_update_at == at("2026-12-07 15:00")
    with pytest.raises(ValidationError) as exc:
        Draft.from_form(base_form(next_at="14:00"), clock).validate()
    assert "14:00 has passed" in exc.value.errors["next_at"]
    with pytest.raises(ValidationError) as exc:
        Draft.from_form(base_form(next_at="15:00", no_further_updates="1"), clock).validate()
    assert "not both" in exc.value.errors["next_at"]
    assert Draft.from_form(base_form(no_further_updates="1"), clock).no_further_updates


def p(update_id, incident, minute, audience="public", promised=None, no_further=False) -> Promise:
    base = at("2026-12-07 12:00")
    due = None if promised is None else base + timedelta(minutes=promised)
    return Promise(update_id, incident, base + timedelta(minutes=minute), audience, due, no_further)


def test_the_latest_public_update_owes_its_promise_until_a_later_public_one():
    now = at("2026-12-07 13:00")
    assert [o.update_id for o in promise.overdue([p(1, 7, 0, promised=30)], now)] == [1]
    assert promise.overdue([p(1, 7, 0, promised=90)], now) == []
    assert promise.overdue([p(2, 7, 10, no_further=True)], now) == []
    # a later staff-only note does not keep a promise made to the public, and its own promise is owed too
    later_note = [p(1, 7, 0, promised=30), p(2, 7, 10, audience="internal", promised=40)]
    assert [o.update_id for o in promise.overdue(later_note, now)] == [1, 2]
    # a staff-only promise is kept by a later public update
    kept = [p(1, 7, 10, promised=30), p(2, 7, 0, audience="internal", promised=5)]
    assert [o.update_id for o in promise.overdue(kept, now)] == [1]
    # incidents are separate
    assert [o.update_id for o in promise.overdue([p(1, 7, 0, promised=30), p(2, 8, 0), ], now)] == [1]


def test_reminders_are_numbered_by_the_interval_since_the_promised_time():
    every = timedelta(minutes=15)
    owed = p(1, 7, 0, promised=30)
    due = owed.next_update_at
    assert promise.reminder_number(owed, due - timedelta(seconds=1), every) == 0
    assert promise.reminder_number(owed, due, every) == 1
    assert promise.reminder_number(owed, due + timedelta(minutes=14, seconds=59), every) == 1
    assert promise.reminder_number(owed, due + every, every) == 2
    assert promise.reminder_number(owed, due + timedelta(hours=24), timedelta(minutes=1)) == 1441
    assert promise.minutes_late(owed, due + timedelta(minutes=16, seconds=30)) == 16
