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
POSTS = ("sms", "x", "facebook")  # deliveries a retraction stops while they still wait in the queue
TAKEN_DOWN += ("bluesky",)
POSTS += ("bluesky",)
TAKEN_DOWN += ("mastodon",)
POSTS += ("mastodon",)
R = SmsRecipient.__table__.c


def story(session: Session, update: Update) -> list[Update]:
    """Every version of `update`'s story: a retraction withdraws them all, on the public site and everywhere else."""
    key = update.story_uid or update.uid
    return list(session.scalars(select(Update).where(
        (Update.story_uid == key) | ((Update.story_uid.is_(None)) & (Update.uid == key))).order_by(Update.id)))


def stop_unsent(session: Session, update: Update, actor: str) -> None:
    """For every version of the story: posts and texts still waiting to go out are skipped, and texts of a
    fan-out under way that were not sent yet are cancelled."""
    note = "Retracted before it was sent."
    for version in story(session, update):
        session.execute(sql_update(Delivery).where(Delivery.update_id == version.id, Delivery.channel.in_(POSTS),
                                                   Delivery.state == DeliveryState.PENDING)
                        .values(state=DeliveryState.SKIPPED, error_code="retracted", error_message=note,
                                finished_at=utcnow(), updated_at=utcnow()))
        sms = _delivery(version, "sms")
        if sms is None:
            continue
        phones = session.execute(sql_update(SmsRecipient.__table__)
                                 .where(R.delivery_id == sms.id, R.state == RecipientState.PENDING)
                                 .values(state=RecipientState.CANCELLED, error_code="retracted", error_message=note,
                                         updated_at=utcnow()).returning(R.phone)).scalars().all()
        audit.record_many(session, [
            {"actor": actor, "action": "send", "update_id": version.id, "channel": "sms", "outcome": "cancelled",
             "target": masking.mask_phone(phone), "error_code": "retracted", "message": note} for phone in phones])


def take_down(session: Session, update: Update) -> list[Delivery]:
    """A delete delivery for each post any version of the story made (or may still make) on X, Facebook and Mastodon."""
    session.flush()
    created = []
    for version in story(session, update):
        session.expire(version, ["deliveries"])
        existing = {d.channel: d for d in version.deliveries}
        for name in TAKEN_DOWN:
            post = existing.get(name)
            if post is None or post.state in (DeliveryState.FAILED, DeliveryState.SKIPPED) or \
                    f"{name}.delete" in existing:
                continue
            delete = Delivery(update_id=version.id, channel=f"{name}.delete", rendering={"text": ""}, attempts=0,
                              target=post.target, state=DeliveryState.PENDING)
            session.add(delete)
            created.append(delete)
    session.flush()
    return created


def pending_actions(session: Session, update: Update) -> list[Delivery]:
    """The retraction's own deliveries (deletes, the notice) across the story that still wait to be queued."""
    versions = [v.id for v in story(session, update)]
    return list(session.scalars(select(Delivery).where(Delivery.update_id.in_(versions), Delivery.channel.contains("."),
                                                       Delivery.state == DeliveryState.PENDING)
                                .order_by(Delivery.id)))


def recipients_to_notify(session: Session, update: Update) -> int:
    """How many people got the update's text and are still subscribed: who a retraction notice would reach."""
    sms = _delivery(update, "sms")
    if sms is None:
        return 0
    return session.scalar(select(func.count()).select_from(SmsRecipient).join(Subscriber, Subscriber.id == R.subscriber_id)
                          .where(R.delivery_id == sms.id, Subscriber.active,
                                 R.state.in_((RecipientState.SENT, RecipientState.IN_DOUBT)))) or 0


def notify_recipients(session: Session, update: Update, settings, actor: str) -> Delivery | None:
    """Queue a short retraction notice to everyone who received the update's text (never to anyone else, nor
    to anyone who has opted out since); None when there is nobody to tell or it was already done."""
    if not recipients_to_notify(session, update) or _delivery(update, "sms.notice") is not None:
        return None
    rendering = render_retraction_sms(settings.ORG_NAME, update.headline, update.retraction_reason,
                                      settings.SMS_MAX_SEGMENTS, exercise=update.exercise)
    notice = Delivery(update=update, channel="sms.notice", rendering=rendering.to_dict(), attempts=0,
                      target="those who received it", state=DeliveryState.PENDING)
    session.add(notice)
    audit.record(session, actor=actor, action="retraction_notice", outcome="queued", update_id=update.id,
                 channel="sms", message=rendering.text)
    session.commit()
    return notice


def _delivery(update: Update, channel: str) -> Delivery | None:
    return next((d for d in update.deliveries if d.channel == channel), None)
