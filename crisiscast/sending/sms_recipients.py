"""The SMS fan-out's rows, one per recipient: planned once (crisiscast.sending.sms_plan), claimed under a lease,
recorded, settled.

Claims are conditional updates (pending -> sending) with a lease, so a recipient is sent by one worker at
a time and a dead worker's claims come back to the reconciler. The hot statements use the tables, not the
ORM classes: the ORM's per-statement bookkeeping costs more than the SQL at thousands of rows a second.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import exists, func, select, update

from crisiscast.channels import Channel
from crisiscast.core import masking
from crisiscast.core.domain import DeliveryState, RecipientState
from crisiscast.services import delivery_receipts
from crisiscast.store import audit, bulk, queries
from crisiscast.store.models import Delivery, SmsRecipient, Subscriber, utcnow

RECIPIENTS, SUBSCRIBERS = SmsRecipient.__table__, Subscriber.__table__
R = RECIPIENTS.c


@dataclass
class Result:
    """One recipient's outcome after every attempt this batch made, and an audit entry per attempt."""

    recipient_id: int
    phone: str
    state: str
    attempts: int
    provider_id: str | None = None
    code: str | None = None
    message: str | None = None
    events: list[dict] = field(default_factory=list)


def claim(sessions, delivery_id: int, update_id: int, id_range: tuple[int, int], limit: int,
          lease: float) -> list[tuple]:
    """Cancel recipients in `id_range` (first and last id) who opted out since publish, then claim up to
    `limit` pending ones for sending."""
    in_batch = (*_in_range(delivery_id, *id_range), R.state == RecipientState.PENDING)
    active = exists().where(SUBSCRIBERS.c.id == R.subscriber_id, SUBSCRIBERS.c.active)
    with sessions() as session, session.begin():
        # A text of an update retracted since it was planned never goes out (its notice, "sms.notice", does).
        withdrawn = delivery_channel(session, delivery_id) == "sms" and queries.story_withdrawn(session, update_id)
        _cancel(session, (*in_batch,) if withdrawn else (*in_batch, ~active), update_id,
                RETRACTED if withdrawn else OPTED_OUT)
        if withdrawn:
            return []
        # SKIP LOCKED: two jobs claiming the same range take different rows rather than the loser getting
        # none (and stopping early) once the winner's update commits. SQLite has one writer and ignores it.
        # Two statements, not UPDATE … WHERE id IN (SELECT … LIMIT … SKIP LOCKED): PostgreSQL may run such a
        # subquery again per row, each time skipping the rows just locked, and so claim far past the limit.
        next_ids = session.scalars(select(R.id).where(*in_batch).order_by(R.id).limit(limit)
                                   .with_for_update(skip_locked=True)).all()
        if not next_ids:
            return []
        claimed = session.execute(
            update(RECIPIENTS).where(R.id.in_(next_ids), R.state == RecipientState.PENDING, active)
            .values(state=RecipientState.SENDING, attempts=R.attempts + 1, updated_at=utcnow(),
                    claimed_at=utcnow(), lease_until=utcnow() + timedelta(seconds=lease))
            .returning(R.id, R.phone, R.attempts)).all()
    return sorted(tuple(row) for row in claimed)


def delivery_channel(session, delivery_id: int) -> str:
    return session.scalar(select(Delivery.channel).where(Delivery.id == delivery_id)) or ""


OPTED_OUT = ("opted_out", "Unsubscribed before this message was sent.")
RETRACTED = ("retracted", "Retracted before it was sent.")


def _cancel(session, where: tuple, update_id: int, reason: tuple[str, str]) -> None:
    """Cancel the pending rows `where` selects, for `reason` (code, message), with an audit entry each."""
    code, message = reason
    phones = session.execute(update(RECIPIENTS).where(*where)
                             .values(state=RecipientState.CANCELLED, error_code=code, error_message=message,
                                     updated_at=utcnow()).returning(R.phone)).scalars().all()
    audit.record_many(session, [
        {**event(masking.mask_phone(phone), "cancelled", code=code, message=message.lower().rstrip(".")),
         "actor": audit.WORKER, "action": "send", "update_id": update_id, "channel": "sms"} for phone in phones])


def renew(sessions, recipient_ids: list[int], lease: float) -> None:
    """Extend the claims this batch still holds, so the reconciler never takes a live send for a dead one."""
    if recipient_ids:
        with sessions() as session, session.begin():
            session.execute(update(RECIPIENTS).where(R.id.in_(recipient_ids), R.state == RecipientState.SENDING)
                            .values(lease_until=utcnow() + timedelta(seconds=lease)))


def unclaim(sessions, recipient_ids: list[int]) -> None:
    """Hand back claimed recipients this batch never started (the channel was paused)."""
    if recipient_ids:
        with sessions() as session, session.begin():
            session.execute(update(RECIPIENTS).where(R.id.in_(recipient_ids), R.state == RecipientState.SENDING)
                            .values(state=RecipientState.PENDING, attempts=R.attempts - 1, lease_until=None))


def has_pending(sessions, delivery_id: int) -> bool:
    """True while any recipient of the delivery waits to be sent."""
    with sessions() as session:
        return bool(session.scalar(select(exists().where(R.delivery_id == delivery_id,
                                                         R.state == RecipientState.PENDING))))


def _in_range(delivery_id: int, first_id: int, last_id: int) -> tuple:
    return R.delivery_id == delivery_id, R.id >= first_id, R.id <= last_id


def record(sessions, update_id: int, results: list[Result], channel: Channel) -> None:
    """Write a chunk of outcomes and their audit entries in one transaction."""
    if not results:
        return
    now = utcnow()
    with sessions() as session, session.begin():
        # Twilio answered these requests with these SIDs: a row the lookup credited with one gives it up.
        delivery_receipts.release(session, {r.provider_id: r.recipient_id for r in results if r.provider_id})
        # A receipt may have credited a row first (its callback beat our response): that stands.
        bulk.update_rows(session, RECIPIENTS, [
            {"id": r.recipient_id, "state": r.state, "provider_id": r.provider_id, "error_code": r.code,
             "error_message": r.message, "attempts": r.attempts, "updated_at": now, "lease_until": None}
            for r in results], kept="provider_id")
        audit.record_many(session, [
            {**entry, "actor": audit.WORKER, "action": "send", "update_id": update_id, "channel": "sms"}
            for r in results for entry in r.events], secrets=channel.secrets())


def event(target: str, outcome: str, provider_id=None, code=None, message="") -> dict:
    """The fields of one send's audit entry (the caller adds who, which update and channel)."""
    return {"target": target, "outcome": outcome, "provider_id": provider_id, "error_code": code,
            "message": message or "", "at": utcnow()}


def not_sent(session, delivery_id: int) -> dict[str, int]:
    """Why cancelled recipients were not sent: {"superseded": 12, "opted_out": 1}."""
    rows = session.execute(select(SmsRecipient.error_code, func.count())
                           .where(SmsRecipient.delivery_id == delivery_id,
                                  SmsRecipient.state == RecipientState.CANCELLED)
                           .group_by(SmsRecipient.error_code))
    return {code or "cancelled": n for code, n in rows}


def _not_sent(session, delivery_id: int) -> str:
    reasons = not_sent(session, delivery_id)
    return "".join(f", {n} {code.replace('_', ' ')}" for code, n in sorted(reasons.items()))


def counts(session, delivery_id: int) -> dict[str, int]:
    """How many recipients of an SMS delivery are in each state."""
    rows = session.execute(select(SmsRecipient.state, func.count()).where(SmsRecipient.delivery_id == delivery_id)
                           .group_by(SmsRecipient.state))
    return {state: n for state, n in rows}


def settle(sessions, delivery_id: int, update_id: int, channel: Channel) -> bool:
    """Once no recipient is pending or sending, give the delivery its final state (exactly one caller does)."""
    with sessions() as session, session.begin():
        # Still being planned: more rows are coming, and the plan's end settles it if they are all done by then.
        if session.scalar(select(Delivery.batches).where(Delivery.id == delivery_id)) is None:
            return False
        tally = counts(session, delivery_id)
        if any(tally.get(s) for s in (RecipientState.PENDING, RecipientState.SENDING, RecipientState.IN_DOUBT)):
            return False
        sent, failed = tally.get(RecipientState.SENT, 0), tally.get(RecipientState.FAILED, 0)
        total = sum(tally.values())
        values = {"finished_at": utcnow(), "updated_at": utcnow(), "next_attempt_at": None,
                  "provider_id": f"{sent} message{'' if sent == 1 else 's'}" if sent else None,
                  "error_code": None, "error_message": None}
        if total == 0:
            state, note = DeliveryState.SKIPPED, "No active subscribers on the chosen lists."
            values.update(error_code="no_subscribers", error_message=note)
        elif sent == 0 and failed == 0:  # every recipient cancelled: superseded or opted out before sending
            state, note = DeliveryState.SKIPPED, f"Nothing sent:{_not_sent(session, delivery_id)[1:]}."
            values.update(error_code="cancelled", error_message=note)
        elif failed == 0:
            state, note = DeliveryState.SENT, f"{sent} sent" + _not_sent(session, delivery_id)
        else:
            first = session.execute(select(SmsRecipient.error_code, SmsRecipient.error_message)
                                    .where(SmsRecipient.delivery_id == delivery_id,
                                           SmsRecipient.state == RecipientState.FAILED)
                                    .order_by(SmsRecipient.id).limit(1)).first()
            state = DeliveryState.FAILED if sent == 0 else DeliveryState.PARTIAL
            note = f"{failed} of {total} messages failed; first: {first.error_message}"
            values.update(error_code=first.error_code, error_message=note)
        won = session.execute(update(Delivery).where(Delivery.id == delivery_id,
                                                     Delivery.state == DeliveryState.SENDING)
                              .values(state=state, **values)).rowcount == 1
        if won:
            audit.record(session, actor=audit.WORKER, action="fanout", outcome=state, update_id=update_id,
                         channel="sms", target=channel.describe(), provider_id=values["provider_id"],
                         error_code=values["error_code"], message=note)
    return won
