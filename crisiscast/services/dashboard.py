"""What the console shows: recent updates, the day's delivery tally, SMS failures and outstanding receipts,
and where a new draft starts from."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.services import delivery_receipts
from crisiscast.store.models import Delivery, Incident, SmsRecipient, Update, utcnow
from crisiscast.store.queries import update_by_uid

# Provider statuses after which a receipt is still to come.
IN_FLIGHT = ("queued", "sending", "sent", "accepted")


def recent_updates(session: Session, limit: int = 20) -> list[Update]:
    """The latest updates, newest first."""
    return list(session.scalars(select(Update).order_by(Update.published_at.desc()).limit(limit)).unique())


def delivery_tally(session: Session, window: timedelta = timedelta(days=1)) -> dict[tuple[str, str], int]:
    """Deliveries created within `window`, counted per (channel, state)."""
    rows = session.execute(select(Delivery.channel, Delivery.state, func.count())
                           .where(Delivery.created_at >= utcnow() - window).group_by(Delivery.channel, Delivery.state))
    return {(channel, state): count for channel, state, count in rows}


def sms_failures(session: Session, delivery_id: int, limit: int = 100) -> list[SmsRecipient]:
    """Recipients of an SMS delivery whose send failed or whose receipt says it was not delivered."""
    failed = (SmsRecipient.state == "failed") | SmsRecipient.status.in_(delivery_receipts.FAILED)
    return list(session.scalars(select(SmsRecipient).where(SmsRecipient.delivery_id == delivery_id, failed)
                                .order_by(SmsRecipient.id).limit(limit)))


def receipts_outstanding(receipts_by_status: dict[str, int]) -> int:
    """How many sent messages still await a final receipt (from delivery_receipts.status_counts)."""
    return receipts_by_status.get("awaiting receipt", 0) + sum(
        n for status, n in receipts_by_status.items() if status in IN_FLIGHT)


def incident_titles(session: Session, limit: int = 20) -> list[str]:
    """The latest incidents' titles, newest first, for the compose form's suggestions."""
    return list(session.scalars(select(Incident.title).order_by(Incident.created_at.desc()).limit(limit)))


def starting_values(session: Session, configured: list[str], corrects: str = "") -> dict:
    """A new draft starts from the update it corrects, or from the latest update's incident and statuses (in a
    crisis most updates change one thing), sent on the `configured` channels."""
    original = update_by_uid(session, corrects) if corrects else None
    if original is not None:
        return {"incident": original.incident.title, "er_access": original.er_access, "corrects": original.uid,
                "operating_status": original.operating_status, "headline": original.headline,
                "body": original.body, "channels": ["feed"], "lists": [], **_promise_values(original),
                **({"exercise": "on", "channels": ["sms"], "lists": ["drill"]} if original.exercise else {})}
    # Never from a drill: its incident and statuses must not slip into a real update.
    latest = session.scalars(select(Update).where(Update.exercise.is_(False))
                             .order_by(Update.published_at.desc()).limit(1)).first()
    if latest is None:
        return {"channels": configured, "lists": ["public"]}
    return {"incident": latest.incident.title, "er_access": latest.er_access,
            "operating_status": latest.operating_status, "channels": configured, "lists": ["public"]}


def _promise_values(original) -> dict:
    """A correction keeps the original's promise (the composer shows it as a clock time while it is ahead)."""
    if original.no_further_updates:
        return {"no_further_updates": "1"}
    return {"next_update_at": original.next_update_at.isoformat()} if original.next_update_at else {}


def sms_progress(session: Session, delivery_id: int, counts: dict[str, int]) -> dict:
    """Sent, failed and still to go of all recipients, with the rate so far and the time left at that rate.

    From the recipients' rows as the fan-out records them chunk by chunk, so it moves while the sends run.
    """
    total = sum(counts.values())
    sent, failed = counts.get("sent", 0), counts.get("failed", 0)
    done = sent + failed + counts.get("cancelled", 0)
    started, latest = session.execute(
        select(func.min(SmsRecipient.claimed_at), func.max(SmsRecipient.updated_at))
        .where(SmsRecipient.delivery_id == delivery_id, SmsRecipient.state.in_(("sent", "failed")))).one()
    rate = None
    if started is not None and latest is not None and sent + failed:
        seconds = (_aware(latest) - _aware(started)).total_seconds()
        rate = (sent + failed) / seconds if seconds > 0 else None
    pending = total - done
    return {"total": total, "sent": sent, "failed": failed, "pending": pending, "rate": rate,
            "eta": pending / rate if rate and pending else None,
            "percent": round(100 * done / total) if total else 100}


def _aware(moment: datetime) -> datetime:
    """SQLite hands back aggregates without the column type, hence naive or even as text."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
