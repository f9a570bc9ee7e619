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
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, text, update
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
    """A chunk's recipient rows (with their update id), locked, by id and by SID; the chunk's audit entries."""

    by_id: dict
    by_sid: dict
    audit: list = field(default_factory=list)

    @classmethod
    def locked(cls, session: Session, receipts: list) -> Rows:
        """Lock the rows `receipts` name or whose SIDs they carry, skipping rows another transaction holds (a
        worker recording its sends locks many rows in no set order): an applier never waits for a row, so it
        can never be part of a deadlock; the receipts of a skipped row wait for the next pass."""
        if not receipts:
            return cls({}, {})
        found = session.execute(
            select(SmsRecipient, Delivery.update_id).join(Delivery).where(or_(
                SmsRecipient.id.in_({r[4] for r in receipts if r[4]}),
                SmsRecipient.provider_id.in_({r[1] for r in receipts})))
            .order_by(SmsRecipient.id).with_for_update(of=SmsRecipient, skip_locked=True)).all()
        return cls({f[0].id: f for f in found}, {f[0].provider_id: f for f in found if f[0].provider_id})

    def find(self, callback: Callback):
        """(row, update id) for `callback`, or None."""
        return self.by_id.get(callback.row_id) if callback.row_id else self.by_sid.get(callback.sid)


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


def apply(session: Session, callback: Callback, rows: Rows) -> str:
    """Apply one callback in the caller's transaction: 'applied', 'credited', 'stale', 'second', 'mismatch' or
    'waiting' (its row is not among `rows`, the chunk's locked rows: nothing changed)."""
    found = rows.find(callback)
    if found is None:
        return "waiting"
    recipient, update_id = found
    entry = dict(actor="twilio", action="delivery_status", outcome=callback.status, update_id=update_id,
                 channel="sms", target=masking.mask_phone(recipient.phone), provider_id=callback.sid,
                 error_code=callback.error_code)
    if callback.to and callback.to != recipient.phone:
        rows.audit.append({**entry, "outcome": "refused",
                           "message": "the callback names a recipient row of another number: nothing changed"})
        return "mismatch"
    if recipient.provider_id and recipient.provider_id != callback.sid:
        rows.audit.append({**entry, "outcome": "second",
                           "message": f"a second message for this recipient (the first is {recipient.provider_id})"})
        return "second"
    result = "applied"
    if recipient.provider_id is None:
        result = _credit(session, recipient, callback.sid)
        rows.by_sid[callback.sid] = found  # release() took it off any other row
    elif RANK.get(callback.status, -1) < RANK.get(recipient.status or "", -1):
        result = "stale"
    if result != "stale":
        recipient.status, recipient.status_at = callback.status, utcnow()
        recipient.status_error_code = callback.error_code or None
    rows.audit.append({**entry, "message": {
        "applied": "", "stale": f"arrived after {recipient.status}; kept {recipient.status}",
        "credited": "the receipt names this recipient's send: credited with its message"}[result]})
    return result


def _credit(session: Session, recipient: SmsRecipient, sid: str) -> str:
    """Give `recipient` the message `sid`; it is sent if it was not recorded yet. Twilio called this row's URL
    for it, so a row the lookup credited with it gives it up and is asked about again."""
    session.flush()  # the chunk's changes so far, before rows are expired below
    for row_id in release(session, {sid: recipient.id}):
        # Another row of this chunk may be loaded with the SID it just gave up: read it again when next used.
        other = session.identity_map.get(session.identity_key(SmsRecipient, row_id))
        if other is not None:
            session.expire(other)
    recipient.provider_id = sid
    if recipient.state in UNRESOLVED:
        recipient.state, recipient.lease_until = RecipientState.SENT, None
        recipient.error_code = recipient.error_message = None
    session.flush()
    return "credited"


def release(session: Session, owners: dict[str, int]) -> list[int]:
    """Take each message of `owners` (SID -> the row whose send created it) off any other row (the lookup gave
    it to the wrong one) and put those rows back in doubt, audited: their own message is looked up again.
    Returns the ids of the rows that gave a message up."""
    held = session.execute(select(R.id, R.provider_id).where(R.provider_id.in_(list(owners)))).all() if owners else ()
    wrong = [row_id for row_id, sid in held if owners[sid] != row_id]
    if not wrong:
        return []
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
    return wrong


def apply_waiting(sessions, chunk: int = 500, most: int | None = None) -> int:
    """Apply the kept callbacks whose row is known, oldest first, one transaction per chunk (up to `most` in
    all); how many were applied.

    A callback whose row is not known yet (its SID not stored, no row named), or is locked by a worker
    recording its sends, stays waiting; this pass then moves on past it. Two appliers may run at once (the
    workers' lock can lapse, and the reconciler's pass applies too): each claims its chunk with a conditional
    UPDATE and skips locked rows.
    """
    applied, skipped = 0, set()
    while most is None or applied + len(skipped) < most:
        with sessions() as session, session.begin():
            _bound_lock_waits(session)
            ready = _claim_ready(session, chunk, skipped)
            rows = Rows.locked(session, ready)
            results = [(receipt[0], _apply_kept(session, receipt, rows)) for receipt in ready]
            audit.record_many(session, rows.audit)
        applied += sum(result != "waiting" for _, result in results)
        skipped |= {receipt_id for receipt_id, result in results if result == "waiting"}
        if len(ready) < chunk:
            return applied
    return applied


def _bound_lock_waits(session: Session) -> None:
    """On PostgreSQL, give up on a row lock after 2 s (the chunk rolls back and waits for the next pass): the
    rare release() of a SID the lookup gave another row updates rows outside the chunk's skip-locked set."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL lock_timeout = '2s'"))


def _claim_ready(session: Session, chunk: int, skipped: set[int]) -> list:
    """Up to `chunk` waiting receipts that name an existing row, or name none and carry a stored SID, taken
    off the wait; none of `skipped` (found waiting again earlier in this pass)."""
    named = select(SmsReceipt.id).join(SmsRecipient, SmsRecipient.id == SmsReceipt.recipient_id) \
        .where(SmsReceipt.waiting)
    by_sid = select(SmsReceipt.id).join(SmsRecipient, SmsRecipient.provider_id == SmsReceipt.message_sid) \
        .where(SmsReceipt.waiting, SmsReceipt.recipient_id.is_(None))
    if skipped:
        named, by_sid = named.where(SmsReceipt.id.not_in(skipped)), by_sid.where(SmsReceipt.id.not_in(skipped))
    ids = sorted(set(session.scalars(named.order_by(SmsReceipt.id).limit(chunk)))
                 | set(session.scalars(by_sid.order_by(SmsReceipt.id).limit(chunk))))[:chunk]
    if not ids:
        return []
    t = SmsReceipt.__table__.c
    taken = session.execute(update(SmsReceipt.__table__).where(t.id.in_(ids), t.waiting).values(waiting=False)
                            .returning(t.id, t.message_sid, t.status, t.error_code, t.recipient_id, t.to_phone))
    return sorted(taken.all())


def _apply_kept(session: Session, receipt, rows: Rows) -> str:
    """Apply one claimed receipt to the row it names, or to its SID's row."""
    receipt_id, sid, status, error_code, row_id, to = receipt
    result = apply(session, Callback(sid, status, error_code, row_id, to or ""), rows)
    if result == "waiting":  # its row is busy (a worker is recording it) or lost its SID meanwhile: next pass
        session.execute(update(SmsReceipt).where(SmsReceipt.id == receipt_id).values(waiting=True))
    return result


def status_counts(session: Session, delivery_id: int) -> dict[str, int]:
    """Recipients of an SMS delivery per provider status ('' for those with no receipt yet)."""
    rows = session.execute(select(SmsRecipient.status, func.count()).where(
        SmsRecipient.delivery_id == delivery_id, SmsRecipient.provider_id.is_not(None)).group_by(SmsRecipient.status))
    return {status or "awaiting receipt": count for status, count in rows}
