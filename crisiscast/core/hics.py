"""The PIO's paperwork: HICS 213 General Message and HICS 214 Activity Log, their numbered blocks named as
the forms name them, the 213's priority, the 214's operational period typed in the hospital's time.

Block numbers and titles are those of the HICS 2014 forms (California EMSA, Hospital Incident Command
System, 5th edition), taken from published copies of the forms and their instruction pages:
HICS 213: https://studylib.net/doc/6855809/hics-213-general-message (also
https://www.scribd.com/document/457985030/HICS-213-General-Message);
HICS 214: https://docsbay.net/hics-214-activity-log (also
https://yara.ca/EmComms/winlink_forms/HICS%20Forms/HICS%20214_Initial.html).
FEMA's ICS 213/214 differ (ICS 214 has "ICS Position", "Home Agency (and Unit)", "Resources Assigned"); these
are the hospital forms, so where the two differ the HICS names are used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crisiscast.core.domain import ValidationError

# HICS 213 - General Message Form, blocks 1-11.
INCIDENT_NAME = "Incident Name"
TO, FROM, SUBJECT, DATE, TIME, PRIORITY = "To", "From", "Subject", "Date", "Time", "Priority"
MESSAGE, RESPONSE_REQUIRED = "Message", "Response Required"
APPROVED_BY, REPLY, REPLIED_BY = "Approved by", "Reply / Action Taken", "Replied by"
PRINT_NAME, POSITION, SIGNATURE, FACILITY, DATE_TIME = "Print Name", "Position", "Signature", "Facility", "Date/Time"
BLOCKS_213 = (INCIDENT_NAME, TO, FROM, SUBJECT, DATE, TIME, PRIORITY, MESSAGE, APPROVED_BY, REPLY, REPLIED_BY)
URGENT, NON_URGENT, INFORMATIONAL = "Urgent - High", "Non Urgent - Medium", "Informational - Low"
PRIORITIES = (URGENT, NON_URGENT, INFORMATIONAL)

# HICS 214 - Activity Log, blocks 1-6.
OPERATIONAL_PERIOD, NAME = "Operational Period", "Name"
HIMT_POSITION = "Hospital Incident Management Team (HIMT) Position"
ACTIVITY_LOG, NOTABLE_ACTIVITIES, PREPARED_BY = "Activity Log", "Notable Activities", "Prepared by"
BLOCKS_214 = (INCIDENT_NAME, OPERATIONAL_PERIOD, NAME, HIMT_POSITION, ACTIVITY_LOG, PREPARED_BY)

PIO = "Public Information Officer"
# The forms ask for dates as m/d/y and times on the 24-hour clock.
DATE_FORMAT, TIME_FORMAT = "%m/%d/%Y", "%H:%M"

# Statuses that make an update urgent: the public must act on them (go elsewhere, stay away).
_URGENT_ER = {"diversion", "closed_walkins", "closed"}
_URGENT_HOSPITAL = {"lockdown", "evacuating", "closed"}
_ROUTINE_ER, _ROUTINE_HOSPITAL = {"open"}, {"normal"}

OPERATIONAL_PERIOD_HOURS = 12
WINDOW_MAX = timedelta(days=31)
WINDOW_INPUT_MAX = 19  # YYYY-MM-DDTHH:MM:SS, what a datetime-local input sends
_LOCAL = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$")


def priority(er_access: str, operating_status: str) -> str:
    """Block 7: urgent when the public must act (diversion, lockdown…), informational when all is normal."""
    if er_access in _URGENT_ER or operating_status in _URGENT_HOSPITAL:
        return URGENT
    if er_access in _ROUTINE_ER and operating_status in _ROUTINE_HOSPITAL:
        return INFORMATIONAL
    return NON_URGENT


@dataclass(frozen=True)
class Window:
    """An operational period, [start, end) in UTC, and how it was typed."""

    start: datetime
    end: datetime
    typed_from: str
    typed_to: str


def local(moment: datetime, zone: str) -> datetime:
    """`moment` in the hospital's zone."""
    return moment.astimezone(ZoneInfo(zone))


def stamp(moment: datetime, zone: str) -> str:
    """12/07/2026 14:05 CST: the forms' date and 24-hour time, with the zone so nobody misreads it."""
    at = local(moment, zone)
    return f"{at.strftime(DATE_FORMAT)} {at.strftime(TIME_FORMAT)} {at.tzname()}"


def typed(moment: datetime, zone: str) -> str:
    """`moment` as a datetime-local input shows it, in the hospital's zone."""
    return local(moment, zone).strftime("%Y-%m-%dT%H:%M:%S")


def parse_window(typed_from: str, typed_to: str, now: datetime, zone: str) -> Window:
    """The window typed in the hospital's time; the last operational period (12 h to `now`) for what is left
    empty. ValidationError naming each bad field: unreadable, inverted, or longer than WINDOW_MAX."""
    typed_from, typed_to = (typed_from or "").strip(), (typed_to or "").strip()
    errors: dict[str, str] = {}
    end = _parse(typed_to, "to", zone, errors) if typed_to else now
    start = _parse(typed_from, "from", zone, errors) if typed_from else None
    if errors:
        raise ValidationError(errors)
    start = start or _period_before(end, zone, errors)
    if errors:  # the period before `end` would start before the calendar does (year 1)
        raise ValidationError(errors)
    if start >= end:
        raise ValidationError({"to": "The end of the period must be after its start."})
    if end - start > WINDOW_MAX:
        raise ValidationError({"to": f"A period covers at most {WINDOW_MAX.days} days; this one covers "
                                     f"{(end - start).days}. Export it in parts."})
    return Window(start, end, typed_from or typed(start, zone), typed_to or typed(end, zone))


def _period_before(end: datetime, zone: str, errors: dict) -> datetime | None:
    """The start of the operational period that ends at `end`; an error for `from` when it is off the calendar
    (in UTC or in the hospital's zone, where the form shows it)."""
    try:
        start = end - timedelta(hours=OPERATIONAL_PERIOD_HOURS)
        local(start, zone)
        return start
    except OverflowError:
        errors["from"] = (f"Date/Time From: the {OPERATIONAL_PERIOD_HOURS} hours before this end are not on the "
                          "calendar; give a Date/Time From.")
        return None


def _parse(text: str, field: str, zone: str, errors: dict) -> datetime | None:
    label = "Date/Time From" if field == "from" else "Date/Time To"
    if len(text) > WINDOW_INPUT_MAX or not _LOCAL.match(text):
        errors[field] = f"{label}: give a date and time such as 2026-12-07T14:05."
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        errors[field] = f"{label}: {text[:WINDOW_INPUT_MAX]} is not a date and time that exists."
        return None
