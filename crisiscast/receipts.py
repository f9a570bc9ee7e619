"""Delivery receipts: Twilio's status callbacks move each SMS recipient's provider status forward."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit
from .models import Delivery, SmsRecipient, utcnow

# Callbacks can arrive out of order; a status never moves back to an earlier one.
RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
        "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5}
FAILED = ("undelivered", "failed")


def apply_status(session: Session, sid: str, status: str, error_code: str | None = None) -> str:
    """Record `status` for the message `sid`; returns 'applied', 'stale' or 'unknown'. Every call is audited."""
    status = (status or "").lower()
    row = session.execute(select(SmsRecipient, Delivery.update_id).join(Delivery)
                          .where(SmsRecipient.provider_id == sid)).first()
    if row is None:
        audit.record(session, actor="twilio", action="delivery_status", outcome="unknown", channel="sms",
                     provider_id=sid, error_code=error_code, message=f"status {status} for a message we did not send")
        session.commit()
        return "unknown"
    recipient, update_id = row
    current = RANK.get(recipient.status or "", -1)
    result = "stale" if RANK.get(status, -1) < current else "applied"
    if result == "applied":
        recipient.status, recipient.status_at = status, utcnow()
        recipient.status_error_code = error_code or None
    audit.record(session, actor="twilio", action="delivery_status", outcome=status, update_id=update_id,
                 channel="sms", target=audit.mask_phone(recipient.phone), provider_id=sid, error_code=error_code,
                 message="" if result == "applied" else f"arrived after {recipient.status}; kept {recipient.status}")
    session.commit()
    return result


def status_counts(session: Session, delivery_id: int) -> dict[str, int]:
    """Recipients of an SMS delivery per provider status ('' for those with no receipt yet)."""
    rows = session.execute(select(SmsRecipient.status, func.count()).where(
        SmsRecipient.delivery_id == delivery_id, SmsRecipient.provider_id.is_not(None)).group_by(SmsRecipient.status))
    return {status or "awaiting receipt": count for status, count in rows}
