"""Promised next updates that are overdue: what the console's alarm shows and what the worker's check reminds of.

Both read the database through the same pure rules (crisiscast.core.promise). No web or queue imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisiscast.core import promise
from crisiscast.core.promise import Promise
from crisiscast.services import staff_texts
from crisiscast.store import audit
from crisiscast.store.models import Incident, OverdueReminder, Update

ACTOR = "system"


def latest_promises(session: Session) -> list[Promise]:
    """Each incident's latest non-retracted update of each audience, as promises (one grouped query). A drill
    neither makes a promise nor keeps one: its "next update" is part of the exercise."""
    live = Update.retracted_at.is_(None) & Update.exercise.is_(False)
    newest = (select(Update.incident_id, Update.audience, func.max(Update.published_at).label("at"))
              .where(live).group_by(Update.incident_id, Update.audience).subquery())
    rows = session.execute(
        select(Update.id, Update.incident_id, Update.published_at, Update.audience, Update.next_update_at,
               Update.no_further_updates)
        .join(newest, (Update.incident_id == newest.c.incident_id) & (Update.audience == newest.c.audience)
              & (Update.published_at == newest.c.at))
        .where(live))
    return [Promise(*row) for row in rows]


@dataclass(frozen=True)
class Overdue:
    """One overdue promise as staff read it."""

    update_id: int
    incident: str
    promised: str
    late: int


def overdue_now(session: Session, now: datetime, zone_name: str) -> list[Overdue]:
    """The overdue promises, oldest promise first, for the alarm on every console page."""
    found = promise.overdue(latest_promises(session), now)
    if not found:
        return []
    titles = dict(session.execute(select(Incident.id, Incident.title)
                                  .where(Incident.id.in_({p.incident_id for p in found}))).all())
    zone = ZoneInfo(zone_name)
    return [Overdue(p.update_id, titles.get(p.incident_id, ""), promise.describe(p.next_update_at, zone, now),
                    promise.minutes_late(p, now))
            for p in sorted(found, key=lambda p: p.next_update_at)]


@dataclass(frozen=True)
class Reminder:
    """A reminder due now: which promise, which number (1 the first), and the text for the on-call list."""

    overdue: Overdue
    number: int
    text: str

    @property
    def key(self) -> str:
        """The staff texts' exactly-once key."""
        return f"overdue:{self.overdue.update_id}:{self.number}"


def remind(session: Session, now: datetime, settings) -> list[int]:
    """Claim, audit and text the on-call list each reminder due at `now` that no pass claimed before; return the
    staff texts' ids to send (committed with the claims, so a lost job is queued again by the worker).

    The unique (update, number) row is the claim: a second worker, or a second pass in the same interval, finds
    it and does nothing. The staff texts' key ("overdue:<update>:<n>") makes each text once per number too."""
    every = timedelta(minutes=settings.OVERDUE_REMINDER_MINUTES)
    promised = {p.update_id: p for p in promise.overdue(latest_promises(session), now)}
    numbers = staff_texts.list_numbers(session, settings.ONCALL_LIST)
    ids: list[int] = []
    for item in overdue_now(session, now, settings.TIMEZONE):
        number = promise.reminder_number(promised[item.update_id], now, every)
        if _claim(session, item.update_id, number, now):
            reminder = Reminder(item, number, reminder_text(settings.ORG_NAME, item))
            texted = staff_texts.request(session, reminder.key, numbers, reminder.text, kind="overdue")
            _audit(session, reminder, settings.ONCALL_LIST, len(texted))
            ids += texted
    session.commit()
    return ids


def reminder_text(org_name: str, item: Overdue) -> str:
    """The on-call text: which incident, the promised time, how late."""
    return (f"{org_name} crisiscast: the next update on {item.incident[:60]} was promised by {item.promised} "
            f"and is {item.late} min overdue. Publish an update or say no further updates are planned.")


def _claim(session: Session, update_id: int, number: int, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(OverdueReminder(update_id=update_id, number=number, created_at=now))
    except IntegrityError:
        return False
    return True


def _audit(session: Session, reminder: Reminder, list_name: str, texts: int) -> None:
    """One entry per reminder; an on-call list with nobody on it is a failure, said as one."""
    item = reminder.overdue
    what = ("promised next update overdue" if reminder.number == 1
            else f"promised next update still overdue: reminder {reminder.number}")
    told = (f"{texts} text{'s' if texts != 1 else ''} to the on-call list {list_name}" if texts
            else f"nobody texted: the on-call list {list_name} has no active numbers")
    audit.record(session, actor=ACTOR, action="overdue", outcome="ok" if texts else "failed",
                 update_id=item.update_id, error_code=None if texts else "no_recipients",
                 message=f"{what} on {item.incident}: promised by {item.promised}, {item.late} min late; {told}")
