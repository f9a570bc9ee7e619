"""The worker's use case: send one delivery through its channel, at most once per target, recording every attempt.

A delivery (and each SMS recipient) is claimed with a conditional UPDATE from `pending` to `sending`
before anything is sent, so two workers that pick up the same job send it once.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from .channels import Channel, ChannelError, InDoubtError, Message, RetryableError
from .domain import DeliveryState, RecipientState, backoff_seconds
from .models import Delivery, SmsRecipient, Subscriber, Update, utcnow
from .services import recipient_counts

BATCH = 200


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is tried again."""

    max_attempts: int = 6
    base: float = 2.0
    cap: float = 300.0

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(int(settings["RETRY_MAX_ATTEMPTS"]), float(settings["RETRY_BASE_SECONDS"]),
                   float(settings["RETRY_MAX_SECONDS"]))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        return backoff_seconds(attempt, self.base, self.cap, retry_after, random.random())


@dataclass(frozen=True)
class Claimed:
    id: int
    update_id: int
    uid: str
    channel: str
    rendering: dict
    target: str
    attempts: int


def deliver(sessions: sessionmaker[Session], channels: dict[str, Channel], delivery_id: int,
            policy: RetryPolicy) -> float | None:
    """Send delivery `delivery_id` if it is pending; return the seconds after which to run it again, or None."""
    claimed = _claim(sessions, delivery_id)
    if claimed is None:
        return None
    channel = channels[claimed.channel]
    missing = channel.missing_settings()
    if missing:
        _finish(sessions, claimed, DeliveryState.SKIPPED, channel, code="not_configured",
                message=f"{channel.label} is not configured on the worker: set {', '.join(missing)}.")
        return None
    if claimed.channel == "sms":
        return _deliver_sms(sessions, channel, claimed, policy)
    r = claimed.rendering
    message = Message(text=r["text"], link=r.get("link", ""), title=r.get("title", ""), uid=claimed.uid)
    try:
        receipt = channel.send(message)
    except RetryableError as exc:
        if claimed.attempts < policy.max_attempts:
            delay = policy.delay(claimed.attempts, exc.retry_after)
            _release(sessions, claimed, channel, exc, delay)
            return delay
        _finish(sessions, claimed, DeliveryState.FAILED, channel, code=exc.code,
                message=f"{exc.message} (gave up after {claimed.attempts} attempts)")
    except ChannelError as exc:
        _finish(sessions, claimed, DeliveryState.FAILED, channel, code=exc.code, message=_explain(exc, channel))
    else:
        _finish(sessions, claimed, DeliveryState.SENT, channel, provider_id=receipt.provider_id)
    return None


def _claim(sessions, delivery_id: int) -> Claimed | None:
    with sessions() as session, session.begin():
        result = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SENDING, attempts=Delivery.attempts + 1, updated_at=utcnow()))
        if result.rowcount != 1:
            return None
        d = session.get(Delivery, delivery_id)
        uid = session.scalar(select(Update.uid).where(Update.id == d.update_id))
        return Claimed(d.id, d.update_id, uid, d.channel, d.rendering, d.target, d.attempts)


def _release(sessions, claimed: Claimed, channel: Channel, exc: ChannelError, delay: float) -> None:
    """Put a delivery back to pending after a retryable failure, to be tried again in `delay` seconds."""
    with sessions() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == claimed.id).values(
            state=DeliveryState.PENDING, error_code=exc.code, error_message=exc.message,
            next_attempt_at=utcnow() + timedelta(seconds=delay), updated_at=utcnow()))
        audit.record(session, actor=audit.WORKER, action="send", outcome="retrying", update_id=claimed.update_id,
                     channel=claimed.channel, target=claimed.target, error_code=exc.code,
                     message=f"attempt {claimed.attempts}: {exc.message}; next try in {delay:.0f}s",
                     secrets=channel.secrets())


def _finish(sessions, claimed: Claimed, state: str, channel: Channel, provider_id: str | None = None,
            code: str | None = None, message: str = "", action: str = "send") -> None:
    with sessions() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == claimed.id).values(
            state=state, provider_id=provider_id, error_code=code,
            error_message=None if state == DeliveryState.SENT else message or None,
            next_attempt_at=None, finished_at=utcnow(), updated_at=utcnow()))
        audit.record(session, actor=audit.WORKER, action=action, outcome=state, update_id=claimed.update_id,
                     channel=claimed.channel, target=claimed.target, provider_id=provider_id, error_code=code,
                     message=message, secrets=channel.secrets())


def _explain(exc: ChannelError, channel: Channel) -> str:
    if isinstance(exc, InDoubtError):
        return (f"No answer from {channel.label} ({exc.message}): it may have gone out. "
                "Check before retrying, or a retry may send it twice.")
    return exc.message


def _deliver_sms(sessions, channel: Channel, claimed: Claimed, policy: RetryPolicy) -> float | None:
    """Fan one SMS delivery out to every active subscriber, one claimed recipient at a time."""
    _plan_recipients(sessions, claimed.id)
    text = claimed.rendering["text"]
    last_id, retry_after, lowest_attempt = 0, None, None
    while True:
        with sessions() as session:
            batch = session.execute(
                select(SmsRecipient.id, SmsRecipient.phone)
                .where(SmsRecipient.delivery_id == claimed.id, SmsRecipient.state == RecipientState.PENDING,
                       SmsRecipient.id > last_id)
                .order_by(SmsRecipient.id).limit(BATCH)).all()
        if not batch:
            break
        for recipient_id, phone in batch:
            last_id = recipient_id
            attempt = _claim_recipient(sessions, claimed, recipient_id, phone)
            if attempt is None:
                continue
            outcome = _send_one(sessions, channel, claimed, recipient_id, phone, text, attempt, policy)
            if outcome is not None:
                retry_after = max(retry_after or 0.0, outcome)
                lowest_attempt = attempt if lowest_attempt is None else min(lowest_attempt, attempt)
    if lowest_attempt is not None:
        delay = policy.delay(lowest_attempt, retry_after)
        with sessions() as session, session.begin():
            session.execute(update(Delivery).where(Delivery.id == claimed.id).values(
                state=DeliveryState.PENDING, next_attempt_at=utcnow() + timedelta(seconds=delay),
                updated_at=utcnow()))
        return delay
    _finish_sms(sessions, claimed, channel)
    return None


def _plan_recipients(sessions, delivery_id: int) -> None:
    """One pending row per active subscriber not yet planned: safe to run again after a crash."""
    already = exists().where(SmsRecipient.delivery_id == delivery_id,
                             SmsRecipient.subscriber_id == Subscriber.id)
    planned = select(literal(delivery_id), Subscriber.id, Subscriber.phone, literal(RecipientState.PENDING),
                     literal(0), literal(utcnow())).where(Subscriber.active, ~already)
    with sessions() as session, session.begin():
        session.execute(insert(SmsRecipient).from_select(
            ["delivery_id", "subscriber_id", "phone", "state", "attempts", "updated_at"], planned))


def _claim_recipient(sessions, claimed: Claimed, recipient_id: int, phone: str) -> int | None:
    """Claim one recipient for sending, unless they opted out since publish (then cancel it); the attempt number."""
    active = exists().where(Subscriber.id == SmsRecipient.subscriber_id, Subscriber.active)
    with sessions() as session, session.begin():
        result = session.execute(
            update(SmsRecipient).where(SmsRecipient.id == recipient_id, SmsRecipient.state == RecipientState.PENDING,
                                       active)
            .values(state=RecipientState.SENDING, attempts=SmsRecipient.attempts + 1, updated_at=utcnow()))
        if result.rowcount == 1:
            return session.scalar(select(SmsRecipient.attempts).where(SmsRecipient.id == recipient_id))
        cancelled = session.execute(
            update(SmsRecipient).where(SmsRecipient.id == recipient_id, SmsRecipient.state == RecipientState.PENDING)
            .values(state=RecipientState.CANCELLED, error_code="opted_out",
                    error_message="Unsubscribed before this message was sent.", updated_at=utcnow()))
        if cancelled.rowcount == 1:
            audit.record(session, actor=audit.WORKER, action="send", outcome="cancelled",
                         update_id=claimed.update_id, channel="sms", target=audit.mask_phone(phone),
                         error_code="opted_out", message="unsubscribed before this message was sent")
    return None


def _send_one(sessions, channel: Channel, claimed: Claimed, recipient_id: int, phone: str, text: str,
              attempt: int, policy: RetryPolicy) -> float | None:
    """Send to one claimed recipient and record it; return a retry-after hint when it should be tried again."""
    target = audit.mask_phone(phone)
    values, retry = {}, None
    try:
        receipt = channel.send(Message(text=text, to=phone, uid=claimed.uid))
    except RetryableError as exc:
        again = attempt < policy.max_attempts
        retry = (exc.retry_after or 0.0) if again else None
        values = dict(state=RecipientState.PENDING if again else RecipientState.FAILED,
                      error_code=exc.code, error_message=exc.message)
        outcome, provider_id, code, message = ("retrying" if again else "failed"), None, exc.code, exc.message
    except ChannelError as exc:
        message = _explain(exc, channel)
        values = dict(state=RecipientState.FAILED, error_code=exc.code, error_message=message)
        outcome, provider_id, code = "failed", None, exc.code
    else:
        values = dict(state=RecipientState.SENT, provider_id=receipt.provider_id, error_code=None, error_message=None)
        outcome, provider_id, code, message = "sent", receipt.provider_id, None, ""
    with sessions() as session, session.begin():
        session.execute(update(SmsRecipient).where(SmsRecipient.id == recipient_id)
                        .values(updated_at=utcnow(), **values))
        audit.record(session, actor=audit.WORKER, action="send", outcome=outcome, update_id=claimed.update_id,
                     channel="sms", target=target, provider_id=provider_id, error_code=code, message=message,
                     secrets=channel.secrets())
    return retry


def _finish_sms(sessions, claimed: Claimed, channel: Channel) -> None:
    with sessions() as session:
        counts = recipient_counts(session, claimed.id)
        first_error = session.execute(
            select(SmsRecipient.error_code, SmsRecipient.error_message, SmsRecipient.provider_id)
            .where(SmsRecipient.delivery_id == claimed.id)
            .order_by((SmsRecipient.state == RecipientState.FAILED).desc(), SmsRecipient.id).limit(1)).first()
    sent, failed = counts.get(RecipientState.SENT, 0), counts.get(RecipientState.FAILED, 0)
    total = sum(counts.values())
    if total == 0:
        _finish(sessions, claimed, DeliveryState.SKIPPED, channel, code="no_subscribers",
                message="No active subscribers.", action="fanout")
        return
    provider_id = first_error.provider_id if total == 1 and sent == 1 else f"{sent} message{'' if sent == 1 else 's'}"
    if failed == 0:
        _finish(sessions, claimed, DeliveryState.SENT, channel, provider_id=provider_id, action="fanout",
                message=f"{sent} sent, {total - sent} not sent (opted out)" if total > sent else f"{sent} sent")
        return
    state = DeliveryState.FAILED if sent == 0 else DeliveryState.PARTIAL
    _finish(sessions, claimed, state, channel, provider_id=provider_id if sent else None,
            code=first_error.error_code,
            message=f"{failed} of {total} messages failed; first: {first_error.error_message}", action="fanout")
