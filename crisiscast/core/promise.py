"""The promise of the next update: a time picked in the hospital's zone, how it reads, and when it is overdue.

Pure functions; `now` is always a parameter, so tests and the worker control the clock.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from crisiscast.core.audience import PUBLIC

QUICK_MINUTES = (15, 30, 60)
# A clock time that passed less than this long ago is a slip (or a stale form), not a promise for tomorrow:
# it is refused. One that passed longer ago means that time tomorrow, which the preview spells out.
JUST_PASSED = timedelta(hours=1)
NO_FURTHER = "No further updates planned."
CLOCK_MAX = 8
MAX_MINUTES = 24 * 60
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class PromiseError(ValueError):
    """The clock time cannot be a promise; the message says why and what to do."""


@dataclass(frozen=True)
class Clock:
    """The hospital's zone and the moment a form is read: what a clock time needs to become an instant."""

    now: datetime
    zone: ZoneInfo

    @classmethod
    def of(cls, zone_name: str, now: datetime) -> Clock:
        """The clock for an IANA zone name (settings validate it at start)."""
        return cls(now, ZoneInfo(zone_name))


def from_clock(clock_time: str, clock: Clock | None) -> tuple[datetime | None, str]:
    """(the instant, "") for a clock time typed in the composer, or (None, why not); ("", no clock) is (None, "")."""
    if not clock_time or clock is None:
        return None, ""
    try:
        return resolve_clock(clock_time, clock.now, clock.zone), ""
    except PromiseError as exc:
        return None, str(exc)


def problem(clock_time: str, at: datetime | None, no_further: bool, error: str) -> str:
    """What is wrong with a draft's promise, or ""."""
    if clock_time and no_further:
        return "Give a time for the next update or tick \"No further updates planned\", not both."
    if clock_time and at is None:
        return error or "The time of the next update could not be read; pick it again."
    return ""


def after_minutes(minutes: int, now: datetime, zone: ZoneInfo) -> str:
    """The clock time ("14:45", in `zone`) `minutes` from `now`, rounded up to the whole minute."""
    at = now + timedelta(minutes=minutes)
    if at.second or at.microsecond:
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at.astimezone(zone).strftime("%H:%M")


def settle_form(values: dict, clock: Clock) -> dict:
    """The compose form with a quick pick ("next_in": minutes, from +15/+30/+60 or a template) or a kept instant
    ("next_update_at", a correction's) turned into the clock time the author sees and can change."""
    values = dict(values)
    minutes, kept = str(values.pop("next_in", "") or "").strip(), str(values.pop("next_update_at", "") or "")
    if len(minutes) <= 4 and minutes.isascii() and minutes.isdigit() and 1 <= int(minutes) <= MAX_MINUTES:
        values["next_at"] = after_minutes(int(minutes), clock.now, clock.zone)
        values.pop("no_further_updates", None)
    elif kept and not values.get("next_at"):
        try:
            at = datetime.fromisoformat(kept)
        except ValueError:
            return values
        if at.tzinfo is not None and at > clock.now:
            values["next_at"] = at.astimezone(clock.zone).strftime("%H:%M")
    return values


def resolve_clock(clock: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a clock time ("02:30", in `zone`) promises: its next occurrence within 24 h of `now`.

    PromiseError when it is not a clock time, or when it passed less than an hour ago (then it is most likely
    a slip, and "tomorrow" would promise nearly a day of silence)."""
    match = _CLOCK.match(clock.strip())
    if not match:
        raise PromiseError("Give the time as hours and minutes, e.g. 14:30, or tap +15, +30 or +60 min.")
    local_now = now.astimezone(zone)
    wanted = time(int(match[1]), int(match[2]))
    today = _at(local_now.date(), wanted, zone)
    if today > now:
        return today.astimezone(timezone.utc)
    if now - today < JUST_PASSED:
        raise PromiseError(f"{clock.strip()} has passed: it is {local_now:%H:%M} {local_now.tzname()} now. "
                           "Pick a later time, or tap +15, +30 or +60 min.")
    return _at(local_now.date() + timedelta(days=1), wanted, zone).astimezone(timezone.utc)


def _at(day: date, wanted: time, zone: ZoneInfo) -> datetime:
    # Through UTC and back: a time that a DST change skips comes out as the real instant just after it.
    naive = datetime.combine(day, wanted, tzinfo=zone)
    return naive.astimezone(timezone.utc).astimezone(zone)


def describe(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """"02:30 CST", or "Tue 02:30 CST" when it is not the same day as `now` in the hospital's zone."""
    local = at.astimezone(zone)
    day = "" if local.date() == now.astimezone(zone).date() else f"{local:%a} "
    return f"{day}{local:%H:%M} {local.tzname()}"


def line(at: datetime | None, no_further: bool, zone: ZoneInfo, now: datetime) -> str:
    """The sentence every channel carries: "Next update by 02:30 CST.", "No further updates planned." or ""."""
    if no_further:
        return NO_FURTHER
    return f"Next update by {describe(at, zone, now)}." if at is not None else ""


def for_update(update, zone_name: str) -> str:
    """The promise a stored update made, as its channels said it; an older row's free text as it was typed."""
    line_now = line(update.next_update_at, update.no_further_updates, ZoneInfo(zone_name), update.published_at)
    if line_now or not getattr(update, "next_update", ""):
        return line_now
    return f"Next update: {update.next_update}"


@dataclass(frozen=True)
class Promise:
    """What one update promised, with what decides whether a later update keeps it."""

    update_id: int
    incident_id: int
    published_at: datetime
    audience: str
    next_update_at: datetime | None
    no_further: bool = False


def open_promises(latest: Iterable[Promise]) -> list[Promise]:
    """The promises still owed, from each incident's latest non-retracted update of each audience.

    Any later update keeps a staff-only (internal) promise; only a later public update keeps a promise made to
    the public, so a staff note never silences the alarm for an update the public is waiting for. A retracted
    update neither promises nor keeps a promise (callers leave it out). "No further updates" promises nothing.
    """
    by_incident: dict[int, list[Promise]] = {}
    for promise in latest:
        by_incident.setdefault(promise.incident_id, []).append(promise)
    owed = []
    for promises in by_incident.values():
        newest = max(promises, key=lambda p: p.published_at)
        public = [p for p in promises if p.audience == PUBLIC]
        candidates = {newest.update_id: newest}
        if public:
            newest_public = max(public, key=lambda p: p.published_at)
            candidates[newest_public.update_id] = newest_public
        owed += [p for p in candidates.values() if p.next_update_at is not None and not p.no_further]
    return sorted(owed, key=lambda p: p.update_id)


def overdue(latest: Iterable[Promise], now: datetime) -> list[Promise]:
    """The owed promises whose time has come without a new update."""
    return [p for p in open_promises(latest) if p.next_update_at <= now]


def reminder_number(promise: Promise, now: datetime, every: timedelta) -> int:
    """Which reminder is due for an overdue promise: 1 at its time, 2 after `every`, and so on (0 if not due)."""
    if promise.next_update_at is None or now < promise.next_update_at:
        return 0
    return int((now - promise.next_update_at) / every) + 1


def minutes_late(promise: Promise, now: datetime) -> int:
    """Whole minutes since the promised time."""
    return max(0, int((now - promise.next_update_at).total_seconds() // 60))

