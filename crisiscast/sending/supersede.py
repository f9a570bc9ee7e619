"""A newer update stops the older one's texts that have not gone out: nobody gets yesterday's "ER closed" after
today's "ER open". Only recipients the newer update reaches are cancelled, and only rows still pending: a text
claimed for sending is never touched (the claim and this cancellation are both conditional on `pending`).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import DeliveryState, RecipientState
from crisiscast.services.subscribers import in_audience
from crisiscast.store import audit
from crisiscast.store.models import Delivery, SmsRecipient, Subscriber, Update, utcnow

CODE = "superseded"
R = SmsRecipient.__table__.c


def on_publish(session: Session, newer: Update, lists, actor: str) -> int:
    """Cancel the pending texts of earlier updates of `newer`'s incident to anyone on `lists`."""
    older = select(Delivery.id).join(Update).where(
        Update.incident_id == newer.incident_id, Update.published_at < newer.published_at,
        Delivery.channel == "sms", Delivery.state.not_in(DeliveryState.FINAL))
    return _cancel(session, list(session.scalars(older)), newer, lists, actor)


def on_plan(session: Session, delivery: Delivery) -> int:
    """Just after `delivery`'s recipients are planned: cancel those a newer update of its incident already
    reaches (the newer one was published while this one waited in the queue)."""
    newer = session.execute(select(Update, Delivery.audience).join(Delivery).where(
        Update.incident_id == delivery.update.incident_id, Update.published_at > delivery.update.published_at,
        Update.supersede_earlier, Update.retracted_at.is_(None), Delivery.channel == "sms")).all()
    return sum(_cancel(session, [delivery.id], update_, lists or ["public"], audit.WORKER)
               for update_, lists in newer)


def _cancel(session: Session, delivery_ids: list[int], newer: Update, lists, actor: str) -> int:
    if not delivery_ids:
        return 0
    reached = select(Subscriber.id).where(in_audience(lists))
    note = f"Superseded by update #{newer.id} (“{newer.headline[:60]}”) before it was sent."
    rows = session.execute(
        update(SmsRecipient.__table__).where(R.delivery_id.in_(delivery_ids), R.state == RecipientState.PENDING,
                                             R.subscriber_id.in_(reached))
        .values(state=RecipientState.CANCELLED, error_code=CODE, error_message=note, updated_at=utcnow())
        .returning(R.phone, R.delivery_id)).all()
    updates = dict(session.execute(select(Delivery.id, Delivery.update_id).where(Delivery.id.in_(delivery_ids))).all())
    audit.record_many(session, [
        {"actor": actor, "action": "send", "update_id": updates[delivery_id], "channel": "sms",
         "target": masking.mask_phone(phone), "outcome": "cancelled", "error_code": CODE, "message": note,
         "provider_id": None, "at": utcnow()}
        for phone, delivery_id in rows])
    return len(rows)
