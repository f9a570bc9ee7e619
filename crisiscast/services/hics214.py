"""An incident's audit log over an operational period as a HICS 214 Activity Log: who did what, when, and with
what outcome, phone numbers masked.

Each SMS recipient has entries of its own (its send, its receipts); thousands of those would bury the notable
activities, so they are folded into one line per update, action and outcome. The audit log keeps them one by one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, not_, select
from sqlalchemy.orm import Session

from crisiscast.core import hics
from crisiscast.core.domain import CHANNEL_LABELS, SMS_DELIVERIES
from crisiscast.core.masking import mask_numbers
from crisiscast.store import audit
from crisiscast.store.models import AuditEvent, Incident, Update

# Entries written once per SMS recipient (by the fan-out, Twilio's receipts and the reconciler).
PER_RECIPIENT = ("send", "delivery_status", "reconcile")
# Actors that are crisiscast or a provider, not a member of staff (block 3 names the staff).
NOT_STAFF = {audit.WORKER, audit.SYSTEM, "twilio", "sms"}
# Entries on one printed form (the rest of the window is one "continue from" away) and in one CSV.
ROWS_MAX = 1000
CSV_ROWS_MAX = 50_000


@dataclass(frozen=True)
class Activity:
    """One line of block 5: an audit entry, or `count` per-recipient entries folded into one."""

    at: datetime
    actor: str
    notable: str
    outcome: str
    update_id: int | None
    count: int = 1


@dataclass
class ActivityLog:
    """The HICS 214's blocks for one incident and window; `more` entries were left off past ROWS_MAX."""

    incident: Incident
    window: hics.Window
    activities: list[Activity] = field(default_factory=list)
    more: int = 0

    @property
    def names(self) -> str:
        """Block 3: the staff whose activities the log documents."""
        return ", ".join(sorted({a.actor for a in self.activities} - NOT_STAFF))

    @property
    def resume_at(self) -> datetime | None:
        """Where the next form starts when this one was cut: its last single entry's time."""
        singles = [a for a in self.activities if a.count == 1]
        return singles[-1].at if self.more and singles else None


def activity_log(session: Session, incident: Incident, window: hics.Window, zone: str,
                 limit: int = ROWS_MAX) -> ActivityLog:
    """The incident's audit entries in `window`, oldest first, per-recipient entries folded; times in `zone`."""
    headlines = dict(session.execute(select(Update.id, Update.headline).where(Update.incident_id == incident.id)).all())
    scope = (AuditEvent.update_id.in_(list(headlines) or [0]), AuditEvent.at >= window.start,
             AuditEvent.at < window.end)
    folded = and_(func.coalesce(AuditEvent.channel, "").in_(SMS_DELIVERIES), AuditEvent.action.in_(PER_RECIPIENT))
    single = session.scalars(select(AuditEvent).where(*scope, not_(folded))
                             .order_by(AuditEvent.at, AuditEvent.id).limit(limit)).all()
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*scope, not_(folded)))
    activities = [_single(e, headlines) for e in single] + _folded(session, (*scope, folded), headlines, zone)
    activities.sort(key=lambda a: a.at)
    return ActivityLog(incident, window, activities, more=total - len(single))


def _single(event: AuditEvent, headlines: dict[int, str]) -> Activity:
    detail = " ".join(part for part in (event.provider_id or "", f"[{event.error_code}]" if event.error_code else "",
                                        event.message) if part)
    notable = _words(event.actor, event.action, event.update_id, event.channel, headlines,
                     [event.target, event.outcome, detail])
    return Activity(event.at, event.actor, notable, event.outcome, event.update_id)


def _folded(session: Session, conditions: tuple, headlines: dict[int, str], zone: str) -> list[Activity]:
    """One line per (update, channel, action, outcome, actor) of the per-recipient entries."""
    keys = (AuditEvent.update_id, AuditEvent.channel, AuditEvent.action, AuditEvent.outcome, AuditEvent.actor)
    rows = session.execute(select(*keys, func.count(), func.min(AuditEvent.at), func.max(AuditEvent.at),
                                  func.min(AuditEvent.target), func.min(AuditEvent.error_code),
                                  func.min(AuditEvent.message))
                           .where(*conditions).group_by(*keys)).all()
    result = []
    for update_id, channel, action, outcome, actor, count, first, last, target, code, message in rows:
        if count == 1:
            facts = [target, outcome, " ".join(p for p in (f"[{code}]" if code else "", message) if p)]
        else:
            example = f"; e.g. [{code}] {message}" if code else ""
            span = f"{hics.local(first, zone):%H:%M:%S}–{hics.local(last, zone):%H:%M:%S %Z}"
            facts = [f"{count:,} recipients", f"{outcome} ({span}){example}"]
        result.append(Activity(first, actor, _words(actor, action, update_id, channel, headlines, facts),
                               outcome, update_id, count))
    return result


def _words(actor: str, action: str, update_id, channel, headlines: dict[int, str], facts: list[str]) -> str:
    """"author: publish #3 “ER on diversion” · SMS · +1 ••••••••67 · sent · SM123": masked, one line."""
    subject = f"#{update_id} “{headlines.get(update_id, '')}”" if update_id else ""
    parts = [f"{actor}: {action.replace('_', ' ')}", subject, CHANNEL_LABELS.get(channel or "", channel or ""),
             *facts]
    return mask_numbers(" · ".join(p for p in parts if p))


def incidents(session: Session, limit: int = 5) -> list[Incident]:
    """The latest incidents, newest first: where the console offers each one's HICS 214."""
    return list(session.scalars(select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit)))


CSV_HEADER = ("Incident Name", "Operational Period: Date/Time From", "Operational Period: Date/Time To", "Date",
              "Time", "Notable Activities", "Who", "Outcome", "Update", "Entries")


def csv_rows(log: ActivityLog, zone: str) -> list[list[str]]:
    """The header and one row per line of block 5, each carrying the incident and period (a sheet can be
    filtered and still say where each line came from)."""
    period = [hics.stamp(log.window.start, zone), hics.stamp(log.window.end, zone)]
    rows = [list(CSV_HEADER)]
    for a in log.activities:
        at = hics.local(a.at, zone)
        rows.append([log.incident.title, *period, at.strftime(hics.DATE_FORMAT), at.strftime("%H:%M:%S %Z"),
                     a.notable, a.actor, a.outcome, "" if a.update_id is None else str(a.update_id), str(a.count)])
    if log.more:
        rows.append([log.incident.title, *period, "", "", f"{log.more:,} more entries were left off: export again "
                     f"from {hics.stamp(log.resume_at, zone)}", "", "", "", ""])
    return rows
