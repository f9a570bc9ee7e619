"""Delivery receipts: Twilio's status callbacks, each kept once, move their recipient's provider status forward.

A callback names its recipient row (the `r` in the StatusCallback URL each send gives Twilio): Twilio calls
that URL only for the message that send created, so the receipt credits that row with the message's SID
even before the worker has stored it, and resolves the row if it was in doubt. A callback without a row
(a message sent before rows were named) is matched by SID; one whose SID is not stored yet waits in the
receipts inbox until it is (crisiscast.sending.reconcile applies those).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import RecipientState
from crisiscast.store import audit
from crisiscast.store.models import Delivery, SmsReceipt, SmsRecipient, utcnow

# Twilio's documented MessageStatus values; anything else is refused.
STATUSES = frozenset({"queued", "sending", "sent", "failed", "delivered", "undelivered", "receiving", "received",
                      "accepted", "scheduled", "read", "partially_delivered", "canceled"})
# Callbacks can arrive out of order; a status never moves back to an earlier one.
RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3, "received": 3,
        "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "partially_delivered": 4, "read": 5}
FAILED = ("undelivered", "failed")
# A row in these states has not been recorded as sent: a receipt for it proves the message exists.
UNRESOLVED = (RecipientState.PENDING, RecipientState.SENDING, RecipientState.IN_DOUBT)
R = SmsRecipient.__table__.c


@dataclass(frozen=True)
class Callback:
    """One status callback as Twilio posted it."""

    sid: str
    status: str
    error_code: str | None = None
    row_id: int | None = None
    to: str = ""
    token: str = ""

    def key(self) -> str:
        """What makes a callback the same one again: Twilio's idempotency token, else its content."""
        content = f"{self.sid}|{self.status}|{self.error_code or ''}|{self.row_id or ''}"
        return self.token[:120] or "sha256:" + hashlib.sha256(content.encode()).hexdigest()


def receive(session: Session, callback: Callback) -> str:
    """Keep `callback` once and apply it; 'duplicate' when it was already received, else how it was applied."""
    if not _keep(session, callback):
        session.rollback()
        return "duplicate"
    result = apply(session, callback)
    if result == "waiting":
        session.execute(update(SmsReceipt).where(SmsReceipt.key == callback.key()).values(waiting=True))
    session.commit()
    return result


def _keep(session: Session, callback: Callback) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = dict(key=callback.key(), message_sid=callback.sid, recipient_id=callback.row_id, status=callback.status,
               error_code=callback.error_code, received_at=utcnow(), waiting=False)
    table = SmsReceipt.__table__
    kept = insert(table).values(**row).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    return session.execute(kept).first() is not None


def apply(session: Session, callback: Callback) -> str:
    """Apply one callback in the caller's transaction: 'applied', 'credited', 'stale', 'second', 'mismatch' or
    'waiting' (no row known for it yet: nothing changed)."""
    query = select(SmsRecipient, Delivery.update_id).join(Delivery)
    query = query.where(SmsRecipient.id == callback.row_id) if callback.row_id else \
        query.where(SmsRecipient.provider_id == callback.sid)
    found = session.execute(query.with_for_update(of=SmsRecipient)).first()
    if found is None:
        return "waiting"
    recipient, update_id = found
    entry = dict(actor="twilio", action="delivery_status", outcome=callback.status, update_id=update_id,
                 channel="sms", target=masking.mask_phone(recipient.phone), provider_id=callback.sid,
                 error_code=callback.error_code)
    if callback.to and callback.to != recipient.phone:
        audit.record(session, **{**entry, "outcome": "refused"},
                     message="the callback names a recipient row of another number: nothing changed")
        return "mismatch"
    if recipient.provider_id and recipient.provider_id != callback.sid:
        audit.record(session, **{**entry, "outcome": "second"},
                     message=f"a second message for this recipient (the first is {recipient.provider_id})")
        return "second"
    result = "applied"
    if recipient.provider_id is None:
        result = _credit(session, recipient, callback.sid)
    elif RANK.get(callback.status, -1) < RANK.get(recipient.status or "", -1):
        result = "stale"
    if result != "stale":
        recipient.status, recipient.status_at = callback.status, utcnow()
        recipient.status_error_code = callback.error_code or None
    audit.record(session, **entry, message={
        "applied": "", "stale": f"arrived after {recipient.status}; kept {recipient.status}",
        "credited": "the receipt names this recipient's send: credited with its message"}[result])
    return result


def _credit(session: Session, recipient: SmsRecipient, sid: str) -> str:
    """Give `recipient` the message `sid`; it is sent if it was not recorded yet. Twilio called this row's URL
    for it, so a row the lookup credited with it gives it up and is asked about again."""
    release(session, {sid: recipient.id})
    recipient.provider_id = sid
    if recipient.state in UNRESOLVED:
        recipient.state, recipient.lease_until = RecipientState.SENT, None
        recipient.error_code = recipient.error_message = None
    session.flush()
    return "credited"


def release(session: Session, owners: dict[str, int]) -> None:
    """Take each message of `owners` (SID -> the row whose send created it) off any other row (the lookup gave
    it to the wrong one) and put those rows back in doubt, audited: their own message is looked up again."""
    held = session.execute(select(R.id, R.provider_id).where(R.provider_id.in_(list(owners)))).all() if owners else ()
    wrong = [row_id for row_id, sid in held if owners[sid] != row_id]
    if not wrong:
        return
    taken = session.execute(
        update(SmsRecipient.__table__).where(R.id.in_(wrong))
        .values(provider_id=None, status=None, state=RecipientState.IN_DOUBT, error_code="in_doubt",
                error_message="Its message was another recipient row's; asking Twilio again.", updated_at=utcnow())
        .returning(R.phone, R.delivery_id)).all()
    update_ids = dict(session.execute(select(Delivery.id, Delivery.update_id).where(
        Delivery.id.in_({d for _, d in taken}))).all())
    audit.record_many(session, [
        {"actor": audit.SYSTEM, "action": "reconcile", "outcome": "in_doubt", "update_id": update_ids[d],
         "channel": "sms", "target": masking.mask_phone(phone),
         "message": "its message belongs to another recipient row: asking Twilio again"} for phone, d in taken])


def apply_waiting(sessions) -> int:
    """Apply the kept callbacks whose message is now stored on a row; how many were applied."""
    with sessions() as session:
        ready = session.execute(select(SmsReceipt.id, SmsReceipt.message_sid, SmsReceipt.status,
                                       SmsReceipt.error_code).join(SmsRecipient,
                                                                   SmsRecipient.provider_id == SmsReceipt.message_sid)
                                .where(SmsReceipt.waiting).order_by(SmsReceipt.id).limit(1000)).all()
    for receipt_id, sid, status, error_code in ready:
        with sessions() as session, session.begin():
            if session.execute(update(SmsReceipt).where(SmsReceipt.id == receipt_id, SmsReceipt.waiting)
                               .values(waiting=False)).rowcount:
                apply(session, Callback(sid, status, error_code))
    return len(ready)


def status_counts(session: Session, delivery_id: int) -> dict[str, int]:
    """Recipients of an SMS delivery per provider status ('' for those with no receipt yet)."""
    rows = session.execute(select(SmsRecipient.status, func.count()).where(
        SmsRecipient.delivery_id == delivery_id, SmsRecipient.provider_id.is_not(None)).group_by(SmsRecipient.status))
    return {status or "awaiting receipt": count for status, count in rows}
