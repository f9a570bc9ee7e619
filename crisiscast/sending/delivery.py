"""The worker's use case: send one delivery through its channel, at most once, recording every attempt.

A delivery is claimed with a conditional UPDATE from `pending` to `sending` before anything is sent,
so two workers that pick up the same job send it once. SMS hands over to crisiscast.sending.sms_recipients (the
plan) and crisiscast.sending.sms_fanout (the sending).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from crisiscast.channels import Channel, ChannelError, InDoubtError, NoBreaker, RetryableError
from crisiscast.core.domain import CHANNELS, DeliveryState, backoff_seconds, channel_action
from crisiscast.sending import actions, sms_plan, sms_recipients
from crisiscast.store import audit, queries
from crisiscast.store.models import Delivery, Update, utcnow


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is tried again."""

    max_attempts: int = 6
    base: float = 2.0
    cap: float = 300.0

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(settings.RETRY_MAX_ATTEMPTS, settings.RETRY_BASE_SECONDS,
                   settings.RETRY_MAX_SECONDS)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        return backoff_seconds(attempt, self.base, self.cap, retry_after, random.random())


@dataclass(frozen=True)
class Outcome:
    """What the job layer must do next: run this delivery again later, or run these SMS batches."""

    retry_in: float | None = None
    batches: tuple[tuple[int, int], ...] = ()
    attempts: int = 0


@dataclass(frozen=True)
class Claimed:
    id: int
    update_id: int
    uid: str
    channel: str
    rendering: dict
    target: str
    attempts: int
    audience: tuple[str, ...] = ()
    retracted: bool = False  # its update was retracted: only the retraction's own actions may still go out


@dataclass(frozen=True)
class DeliveryContext:
    """What a worker process sends deliveries with."""

    sessions: sessionmaker[Session]
    channels: dict[str, Channel]
    policy: RetryPolicy
    breaker: Any = field(default_factory=NoBreaker)
    lease: float = 120.0
    sms_batch_size: int = 500
    # Called with each chunk's SMS batches as the plan commits them (the jobs queue them at once); without
    # it, the batches come back in the Outcome once the whole plan is written.
    queue_batches: Any = None


def deliver(ctx: DeliveryContext, delivery_id: int) -> Outcome:
    """Send delivery `delivery_id` if it is pending (for SMS: plan its batches); say what should happen next."""
    sessions = ctx.sessions
    claimed = _claim(sessions, delivery_id, ctx.lease)
    if claimed is None:
        return Outcome()
    channel = ctx.channels[channel_action(claimed.channel)[0]]
    if claimed.retracted and claimed.channel in CHANNELS:  # a post (or text) of a withdrawn update never goes out
        _finish(sessions, claimed, channel, Ending(DeliveryState.SKIPPED, "retracted", "Retracted before it was sent."))
        return Outcome()
    missing = channel.missing_settings()
    if missing:
        _finish(sessions, claimed, channel, Ending(DeliveryState.SKIPPED, "not_configured",
                f"{channel.label} is not configured on the worker: set {', '.join(missing)}."))
        return Outcome()
    if channel.name == "sms":
        batches = sms_plan.plan(sessions, claimed.id, claimed.audience, ctx.sms_batch_size, ctx.queue_batches,
                                ctx.lease)
        # Batches that finished while the plan still ran left the settling to it.
        sms_recipients.settle(sessions, claimed.id, claimed.update_id, channel)
        return Outcome(batches=() if ctx.queue_batches else tuple(batches))
    paused = ctx.breaker.wait_seconds(channel.name)
    if paused > 0:
        _release(sessions, claimed, channel, None, paused)
        return Outcome(retry_in=paused, attempts=claimed.attempts - 1)
    return _attempt(ctx, claimed, channel)


def _attempt(ctx: DeliveryContext, claimed: "Claimed", channel: Channel) -> Outcome:
    """One try at the provider, and what it means for the delivery."""
    sessions, policy, breaker = ctx.sessions, ctx.policy, ctx.breaker
    try:
        receipt = actions.perform(sessions, channel, claimed)
    except actions.Waiting as exc:  # not a failure: the post it acts on is still settling; no attempt is used
        _release(sessions, claimed, channel, exc, ctx.lease, spent=False)
        return Outcome(retry_in=ctx.lease, attempts=claimed.attempts - 1)
    except RetryableError as exc:
        breaker.record(channel.name, ok=False)
        if claimed.attempts < policy.max_attempts:
            delay = policy.delay(claimed.attempts, exc.retry_after)
            _release(sessions, claimed, channel, exc, delay)
            return Outcome(retry_in=delay, attempts=claimed.attempts)
        _finish(sessions, claimed, channel, Ending(DeliveryState.FAILED, exc.code,
                f"{exc.message} (gave up after {claimed.attempts} attempts)"))
    except InDoubtError as exc:
        breaker.record(channel.name, ok=False)
        _finish(sessions, claimed, channel, Ending(DeliveryState.IN_DOUBT, exc.code, in_doubt_note(exc, channel)))
    except actions.NothingToDo as exc:
        _finish(sessions, claimed, channel, Ending(DeliveryState.SKIPPED, exc.code, exc.message))
    except ChannelError as exc:
        breaker.record(channel.name, ok=True)  # the provider answered: it is up, the request was wrong
        _finish(sessions, claimed, channel, Ending(DeliveryState.FAILED, exc.code, exc.message))
    else:
        breaker.record(channel.name, ok=True)
        note = "" if receipt.status in ("", "queued") else receipt.status
        _finish(sessions, claimed, channel, Ending(DeliveryState.SENT, provider_id=receipt.provider_id, message=note))
    return Outcome()


message_of = actions.message_of


def _claim(sessions, delivery_id: int, lease: float) -> Claimed | None:
    now = utcnow()
    with sessions() as session, session.begin():
        result = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SENDING, attempts=Delivery.attempts + 1, updated_at=now, claimed_at=now,
                    lease_until=now + timedelta(seconds=lease)))
        if result.rowcount != 1:
            return None
        d = session.get(Delivery, delivery_id)
        uid = session.scalar(select(Update.uid).where(Update.id == d.update_id))
        return Claimed(d.id, d.update_id, uid, d.channel, d.rendering, d.target, d.attempts,
                       tuple(d.audience or ()), queries.story_withdrawn(session, d.update_id))


def _release(sessions, claimed: Claimed, channel: Channel, exc: ChannelError | None, delay: float,
             spent: bool = True) -> None:
    """Put a delivery back to pending, to be tried in `delay` seconds: after a retryable failure, or (exc None)
    without trying because the channel is paused, which costs no attempt (nor does a try that was not `spent`)."""
    values = dict(state=DeliveryState.PENDING, next_attempt_at=utcnow() + timedelta(seconds=delay),
                  updated_at=utcnow(), lease_until=None)
    if exc is None:
        values.update(attempts=claimed.attempts - 1, error_code="paused",
                      error_message=f"{channel.label} is failing; paused, trying again in {delay:.0f}s.")
        outcome, code, note = "paused", "paused", values["error_message"]
    else:
        values.update(error_code=exc.code, error_message=exc.message, **({} if spent else
                                                                          {"attempts": claimed.attempts - 1}))
        outcome, code = "retrying", exc.code
        note = f"attempt {claimed.attempts}: {exc.message}; next try in {delay:.0f}s"
    with sessions() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == claimed.id).values(**values))
        audit.record(session, actor=audit.WORKER, action="send", outcome=outcome, update_id=claimed.update_id,
                     channel=claimed.channel, target=claimed.target, error_code=code, message=note,
                     secrets=channel.secrets())


@dataclass(frozen=True)
class Ending:
    """How a delivery ended: its final state, the provider's error (code, message) or its id for the post."""

    state: str
    code: str | None = None
    message: str = ""
    provider_id: str | None = None


def _finish(sessions, claimed: Claimed, channel: Channel, ending: Ending) -> None:
    state, code, message, provider_id = ending.state, ending.code, ending.message, ending.provider_id
    with sessions() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == claimed.id).values(
            state=state, provider_id=provider_id, error_code=code,
            error_message=None if state == DeliveryState.SENT else message or None, lease_until=None,
            next_attempt_at=None, finished_at=None if state == DeliveryState.IN_DOUBT else utcnow(),
            updated_at=utcnow()))
        audit.record(session, actor=audit.WORKER, action="send", outcome=state, update_id=claimed.update_id,
                     channel=claimed.channel, target=claimed.target, provider_id=provider_id, error_code=code,
                     message=message, secrets=channel.secrets())


def in_doubt_note(exc: ChannelError, channel: Channel) -> str:
    """What staff read while a send is in doubt."""
    return (f"No answer from {channel.label} ({exc.message}): it may have gone out. crisiscast asks "
            f"{channel.label} before it sends anything again.")
