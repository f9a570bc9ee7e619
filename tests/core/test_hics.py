"""The forms' blocks, the 213's priority, and the 214's period typed in the hospital's time."""
from datetime import datetime, timedelta, timezone

import pytest

from crisiscast.core import hics
from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS, ValidationError

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=timezone.utc)  # 14:00 in Chicago (CST, UTC-6)
CHICAGO = "America/Chicago"


def test_the_blocks_are_numbered_and_named_as_the_hics_forms_print_them():
    assert [f"{n}. {b}" for n, b in enumerate(hics.BLOCKS_213, 1)] == [
        "1. Incident Name", "2. To", "3. From", "4. Subject", "5. Date", "6. Time", "7. Priority", "8. Message",
        "9. Approved by", "10. Reply / Action Taken", "11. Replied by"]
    assert [f"{n}. {b}" for n, b in enumerate(hics.BLOCKS_214, 1)] == [
        "1. Incident Name", "2. Operational Period", "3. Name",
        "4. Hospital Incident Management Team (HIMT) Position", "5. Activity Log", "6. Prepared by"]
    assert hics.PRIORITIES == ("Urgent - High", "Non Urgent - Medium", "Informational - Low")


@pytest.mark.parametrize("er, hospital, expected", [
    ("open", "normal", "Informational - Low"),
    ("open_delays", "normal", "Non Urgent - Medium"),
    ("open", "limited", "Non Urgent - Medium"),
    ("diversion", "normal", "Urgent - High"),
    ("closed_walkins", "normal", "Urgent - High"),
    ("open", "lockdown", "Urgent - High"),
    ("open_delays", "evacuating", "Urgent - High"),
    ("closed", "closed", "Urgent - High"),
])
def test_priority_is_urgent_when_the_public_must_act_and_informational_when_all_is_normal(er, hospital, expected):
    assert hics.priority(er, hospital) == expected


def test_every_status_pair_has_one_of_the_forms_priorities():
    assert {hics.priority(e, o) for e in ER_ACCESS for o in OPERATING_STATUS} == set(hics.PRIORITIES)


def test_an_empty_period_is_the_last_operational_period_of_twelve_hours():
    window = hics.parse_window("", "", NOW, CHICAGO)
    assert (window.start, window.end) == (NOW - timedelta(hours=12), NOW)
    assert (window.typed_from, window.typed_to) == ("2026-12-07T02:00:00", "2026-12-07T14:00:00")


def test_the_period_is_typed_in_the_hospitals_time_and_kept_in_utc():
    window = hics.parse_window("2026-12-07T08:00", "2026-12-07T14:30:15", NOW, CHICAGO)
    assert window.start == datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc)
    assert window.end == datetime(2026, 12, 7, 20, 30, 15, tzinfo=timezone.utc)
    summer = hics.parse_window("2026-07-01T08:00", "2026-07-01T09:00", NOW, CHICAGO)
    assert summer.start.hour == 13  # CDT, UTC-5
    only_from = hics.parse_window("2026-12-07T08:00", "", NOW, CHICAGO)
    assert only_from.end == NOW


def test_the_longest_period_is_accepted_and_one_second_more_is_refused():
    assert hics.parse_window("2026-11-06T14:00", "2026-12-07T14:00", NOW, CHICAGO).end - \
        hics.parse_window("2026-11-06T14:00", "2026-12-07T14:00", NOW, CHICAGO).start == hics.WINDOW_MAX
    with pytest.raises(ValidationError) as refused:
        hics.parse_window("2026-11-06T13:59:59", "2026-12-07T14:00", NOW, CHICAGO)
    assert "at most 31 days" in refused.value.errors["to"]


@pytest.mark.parametrize("typed_from, typed_to, field, says", [
    ("2026-12-07T14:00", "2026-12-07T08:00", "to", "after its start"),
    ("2026-12-07T14:00", "2026-12-07T14:00", "to", "after its start"),
    ("yesterday", "", "from", "such as 2026-12-07T14:05"),
    ("2026-12-07 14:00", "", "from", "such as"),
    ("", "2026-02-30T10:00", "to", "not a date and time that exists"),
    ("", "2026-12-07T25:00", "to", "not a date and time that exists"),
    ("0001-01-01T00:00", "", "to", "at most 31 days"),
    ("9999-12-31T23:59", "", "from", "not a date and time that exists"),
    ("2026-12-07T14:00" + "0" * 10_000, "", "from", "such as"),
    ("١٢٣٤-12-07T14:00", "", "from", "such as"),
    # The 12 hours before the first day of the calendar do not exist: refused, not an OverflowError (a 500).
    ("", "0001-01-01T00:00", "from", "give a Date/Time From"),
    ("", "0001-01-01T11:59", "from", "give a Date/Time From"),
])
def test_a_bad_period_is_refused_naming_the_field_and_what_it_accepts(typed_from, typed_to, field, says):
    with pytest.raises(ValidationError) as refused:
        hics.parse_window(typed_from, typed_to, NOW, CHICAGO)
    assert says in refused.value.errors[field]
    assert len(refused.value.errors[field]) < 200  # never echoes a huge input back


def test_stamps_use_the_forms_date_and_24_hour_time_with_the_zone():
    assert hics.stamp(NOW, CHICAGO) == "12/07/2026 14:00 CST"
    assert hics.stamp(NOW, "UTC") == "12/07/2026 20:00 UTC"
