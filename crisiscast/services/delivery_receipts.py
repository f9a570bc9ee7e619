"""Delivery receipts: Twilio's status callbacks, each kept once, move their recipient's provider status forward.

The web app only keeps a callback (`keep`: one signature check and one INSERT, about a third of applying
it there): with two callbacks per text, applying each in the web request cost the fan-out more CPU than
sending it. The workers apply what is waiting in chunks (`apply_waiting`), a second or so later.

A callback names its recipient row (the `r` in the StatusCallback URL each send gives Twilio): Twilio calls
that URL only for the message that send created, so the receipt credits that row with the message's SID
even before the worker has stored it, and resolves the row if it was in doubt. A callback without a row
(a message sent before rows were named) is matched by SID; one whose SID is not stored yet waits until it is.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
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


@dataclass
class Rows:
    """A chunk's recipient rows (with their update id), locked, by id and by SID."""

    by_id: dict
    by_sid: dict

    @classmethod
    def locked(cls, session: Session, receipts: list) -> Rows:
        """Lock the rows `receipts` name or whose SIDs they carry, in id order: two appliers, or an applier and a
        sending worker, then never wait on each other in a cycle."""
        if not receipts:
            return cls({}, {})
        found = session.execute(_rows_query().where(or_(
            SmsRecipient.id.in_({r[4] for r in receipts if r[4]}),
            SmsRecipient.provider_id.in_({r[1] for r in receipts}))).order_by(SmsRecipient.id)).all()
        return cls({f[0].id: f for f in found}, {f[0].provider_id: f for f in found if f[0].provider_id})

    def find(self, callback: Callback):
        """(row, update id) for `callback`, or None."""
        return self.by_id.get(callback.row_id) if callback.row_id else self.by_sid.get(callback.sid)


def _rows_query():
    return select(SmsRecipient, Delivery.update_id).join(Delivery).with_for_update(of=SmsRecipient)


def keep(session: Session, callback: Callback) -> bool:
    """Store `callback` once, waiting for a worker to apply it; False when it was kept before (a replay)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    row = dict(key=callback.key(), message_sid=callback.sid, recipient_id=callback.row_id, status=callback.status,
               error_code=callback.error_code, to_phone=callback.to or None, received_at=utcnow(), waiting=True)
    table = SmsReceipt.__table__
    kept = session.execute(insert(table).values(**row).on_conflict_do_nothing(index_elements=["key"])
                           .returning(table.c.id)).first() is not None
    session.commit()
    return kept


def apply(session: Session, callback: Callback, rows: Rows | None = None) -> str:
    """Apply one callback in the caller's transaction: 'applied', 'credited', 'stale', 'second', 'mismatch' or
    'waiting' (no row known for it yet: nothing changed). `rows`, when given, holds its row already locked."""
    found = rows.find(callback) if rows is not None else session.execute(
        _rows_query().where(SmsRecipient.id == callback.row_id if callback.row_id
                            else SmsRecipient.provider_id == callback.sid)).first()
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
        if rows is not None:
            rows.by_sid[callback.sid] = found  # release() took it off any other row
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


def apply_waiting(sessions, chunk: int = 500) -> int:
    """Apply the kept callbacks whose row is known, oldest first, one transaction per chunk; how many.

    A callback whose row is not known yet (its SID not stored, no row named) stays waiting. Callers run
    one at a time (the workers hold a lock); each chunk is also claimed with a conditional UPDATE.
    """
    applied = 0
    while True:
        with sessions() as session, session.begin():
            ready = _claim_ready(session, chunk)
            rows = Rows.locked(session, ready)
            for receipt in ready:
                _apply_kept(session, receipt, rows)
        applied += len(ready)
        if len(ready) < chunk:
            return applied


def _claim_ready(session: Session, chunk: int) -> list:
    """Up to `chunk` waiting receipts that name an existing row or carry a stored SID, taken off the wait."""
    named = select(SmsReceipt.id).join(SmsRecipient, SmsRecipient.id == SmsReceipt.recipient_id) \
        .where(SmsReceipt.waiting)
    by_sid = select(SmsReceipt.id).join(SmsRecipient, SmsRecipient.provider_id == SmsReceipt.message_sid) \
        .where(SmsReceipt.waiting)
    ids = sorted(set(session.scalars(named.order_by(SmsReceipt.id).limit(chunk)))
                 | set(session.scalars(by_sid.order_by(SmsReceipt.id).limit(chunk))))[:chunk]
    if not ids:
        return []
    t = SmsReceipt.__table__.c
    taken = session.execute(update(SmsReceipt.__table__).where(t.id.in_(ids), t.waiting).values(waiting=False)
                            .returning(t.id, t.message_sid, t.status, t.error_code, t.recipient_id, t.to_phone))
    return sorted(taken.all())


def _apply_kept(session: Session, receipt, rows: Rows) -> str:
    """Apply one claimed receipt: to the row it names, else (that row gone) to its SID's row."""
    _, sid, status, error_code, row_id, to = receipt
    result = apply(session, Callback(sid, status, error_code, row_id, to or ""), rows)
    if result == "waiting" and row_id:
        result = apply(session, Callback(sid, status, error_code, None, to or ""), rows)
    if result == "waiting":  # its SID's row was taken off it meanwhile: it waits again
        session.execute(update(SmsReceipt).where(SmsReceipt.id == receipt[0]).values(waiting=True))
    return result


def status_counts(session: Session, delivery_id: int) -> dict[str, int]:
    """Recipients of an SMS delivery per provider status ('' for those with no receipt yet)."""
    rows = session.execute(select(SmsRecipient.status, func.count()).where(
        SmsRecipient.delivery_id == delivery_id, SmsRecipient.provider_id.is_not(None)).group_by(SmsRecipient.status))
    return {status or "awaiting receipt": count for status, count in rows}
