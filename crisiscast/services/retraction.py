"""A retraction everywhere the update went: posts not yet out are stopped, posts that went out are deleted,
and, when staff ask, the people who got the text are told it was withdrawn."""
from __future__ import annotations

from sqlalchemy import func, select, update as sql_update
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import DeliveryState, RecipientState
from crisiscast.core.rendering import render_retraction_sms
from crisiscast.store import audit
from crisiscast.store.models import Delivery, SmsRecipient, Subscriber, Update, utcnow

TAKEN_DOWN = ("x", "facebook")  # the channels whose posts a retraction deletes
R = SmsRecipient.__table__.c


def stop_unsent(session: Session, update: Update, actor: str) -> None:
    """Posts still waiting to go out are skipped, and the update's texts not yet sent are cancelled."""
    note = "Retracted before it was sent."
    session.execute(sql_update(Delivery).where(Delivery.update_id == update.id, Delivery.channel.in_(TAKEN_DOWN),
                                               Delivery.state == DeliveryState.PENDING)
                    .values(state=DeliveryState.SKIPPED, error_code="retracted", error_message=note,
                            finished_at=utcnow(), updated_at=utcnow()))
    sms = _delivery(update, "sms")
    if sms is None:
        return
    phones = session.execute(sql_update(SmsRecipient.__table__)
                             .where(R.delivery_id == sms.id, R.state == RecipientState.PENDING)
                             .values(state=RecipientState.CANCELLED, error_code="retracted", error_message=note,
                                     updated_at=utcnow()).returning(R.phone)).scalars().all()
    audit.record_many(session, [
        {"actor": actor, "action": "send", "update_id": update.id, "channel": "sms", "outcome": "cancelled",
         "target": masking.mask_phone(phone), "error_code": "retracted", "message": note} for phone in phones])


def take_down(session: Session, update: Update) -> list[Delivery]:
    """A delete delivery for each post the update made (or may still make) on X and Facebook."""
    session.flush()
    session.expire(update, ["deliveries"])
    created = []
    for name in TAKEN_DOWN:
        post = _delivery(update, name)
        if post is None or post.state in (DeliveryState.FAILED, DeliveryState.SKIPPED) or \
                _delivery(update, f"{name}.delete") is not None:
            continue
        created.append(Delivery(update=update, channel=f"{name}.delete", rendering={"text": ""}, attempts=0,
                                target=post.target, state=DeliveryState.PENDING))
    session.add_all(created)
    return created


def recipients_to_notify(session: Session, update: Update) -> int:
    """How many people got the update's text and are still subscribed: who a retraction notice would reach."""
    sms = _delivery(update, "sms")
    if sms is None:
        return 0
    return session.scalar(select(func.count()).select_from(SmsRecipient).join(Subscriber, Subscriber.id == R.subscriber_id)
                          .where(R.delivery_id == sms.id, R.state == RecipientState.SENT, Subscriber.active)) or 0


def notify_recipients(session: Session, update: Update, settings, actor: str) -> Delivery | None:
    """Queue a short retraction notice to everyone who received the update's text (never to anyone else, nor
    to anyone who has opted out since); None when there is nobody to tell or it was already done."""
    if not recipients_to_notify(session, update) or _delivery(update, "sms.notice") is not None:
        return None
    rendering = render_retraction_sms(settings.ORG_NAME, update.headline, update.retraction_reason,
                                      settings.SMS_MAX_SEGMENTS)
    notice = Delivery(update=update, channel="sms.notice", rendering=rendering.to_dict(), attempts=0,
                      target="those who received it", state=DeliveryState.PENDING)
    session.add(notice)
    audit.record(session, actor=actor, action="retraction_notice", outcome="queued", update_id=update.id,
                 channel="sms", message=rendering.text)
    session.commit()
    return notice


def _delivery(update: Update, channel: str) -> Delivery | None:
    return next((d for d in update.deliveries if d.channel == channel), None)
