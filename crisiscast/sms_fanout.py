"""SMS fan-out: one row per recipient, batches of rows across workers, bounded concurrency inside each.

- plan(): one INSERT … SELECT makes a pending row per active subscriber on the update's lists (once).
- send_batch(): claims small chunks of a batch (cancelling anyone who opted out since publish), then of the
  delivery's later recipients, sends them on a thread pool (the channel holds the shared throttle per
  request), retries 429/5xx in place with backoff, and writes results and audit entries in bulk. The last
  batch to finish settles the delivery.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from queue import Empty, SimpleQueue
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import exists, func, insert, literal, select, update

from . import audit, bulk
from .channels import Channel, ChannelError, InDoubtError, Message, NoBreaker, RetryableError, Unavailable
from .domain import DeliveryState, RecipientState
from .models import Delivery, SmsRecipient, Subscriber, utcnow
from .subscribers import in_audience

FLUSH_EVERY = 200
# The fan-out's hot statements use the tables, not the ORM classes: the ORM's per-statement bookkeeping
# costs more than the SQL at thousands of rows a second.
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


def plan(sessions, delivery_id: int, audience, batch_size: int) -> list[tuple[int, int]]:
    """Plan the recipients once (safe to repeat) and return (first id, last id) batches of pending rows."""
    with sessions() as session, session.begin():
        planned = session.scalar(select(exists().where(SmsRecipient.delivery_id == delivery_id)))
        if not planned:
            rows = select(literal(delivery_id), Subscriber.id, Subscriber.phone, literal(RecipientState.PENDING),
                          literal(0), literal(utcnow())).where(in_audience(audience or ["public"]))
            session.execute(insert(SmsRecipient).from_select(
                ["delivery_id", "subscriber_id", "phone", "state", "attempts", "updated_at"], rows))
        ids = session.scalars(select(SmsRecipient.id).where(SmsRecipient.delivery_id == delivery_id,
                                                            SmsRecipient.state == RecipientState.PENDING)
                              .order_by(SmsRecipient.id)).all()
        batches = [(ids[i], ids[min(i + batch_size, len(ids)) - 1]) for i in range(0, len(ids), batch_size)]
        # Kept with the delivery: the reconciler re-queues exactly these if the queue loses them.
        session.execute(update(Delivery).where(Delivery.id == delivery_id)
                        .values(batches=[list(b) for b in batches]))
    return batches


def send_batch(sessions, channel: Channel, policy, executor: Executor, window: int, delivery_id: int,
               update_id: int, uid: str, text: str, first_id: int, last_id: int, breaker=None,
               lease: float = 120.0, later: Sequence[tuple[int, int]] = ()) -> float | None:
    """Send every pending recipient with first_id <= id <= last_id, at most `window` at a time.

    A batch that found work in its own range goes on, once that range is all claimed, to the `later`
    batches of the delivery, rather than letting its requests drain to none before the next batch's job
    starts: the sends stay at the cap across batch boundaries, and the later batches' jobs find less to do,
    or nothing (and then stop at once). Claims make it safe for two jobs to work the same range. The
    channel enforces the shared throttle itself, around each request it makes. Returns None when done, or,
    when the channel was paused, how long it stays paused (the rest waits as pending).
    """
    breaker = breaker or NoBreaker()
    ranges = deque([(first_id, last_id)])
    found_work = False
    pending: deque = deque()
    in_flight: dict = {}
    finished: SimpleQueue = SimpleQueue()  # futures as they complete: no waiter on every one per wake-up
    results: list[Result] = []
    exhausted = False
    chunk = max(1, min(window, 100))
    renewed = time.monotonic()
    handed_back = False  # a send came back unsent (paused, or no throttle): stop taking more
    while True:
        while len(in_flight) < window and not (exhausted and not pending) and not breaker.wait_seconds("sms") \
                and not handed_back:
            while not pending and ranges:
                pending.extend(_claim(sessions, delivery_id, update_id, *ranges[0], chunk, lease))
                if pending and not found_work:
                    found_work = True
                    ranges.extend(later)
                elif not pending:
                    ranges.popleft()
            if not pending:
                exhausted = True
                break
            recipient_id, phone, attempt = pending.popleft()
            future = executor.submit(send_one, channel, policy, uid, text, recipient_id, phone, attempt, breaker)
            in_flight[future] = recipient_id
            future.add_done_callback(finished.put)
        if not in_flight:
            break
        for future in _completed(finished, timeout=lease / 4):
            in_flight.pop(future)
            results.append(future.result())
            handed_back = handed_back or results[-1].state == RecipientState.PENDING
        if len(results) >= FLUSH_EVERY:
            _record(sessions, update_id, results, channel)
            results = []
        if time.monotonic() - renewed > lease / 4:
            _renew(sessions, [*in_flight.values(), *(p[0] for p in pending)], lease)
            renewed = time.monotonic()
    _record(sessions, update_id, results, channel)
    _unclaim(sessions, [p[0] for p in pending])
    if (handed_back or not exhausted) and _has_pending(sessions, delivery_id):
        # Paused, or the throttle was unreachable: the reconciler queues the batches left pending again.
        return max(breaker.wait_seconds("sms"), 1.0)
    settle(sessions, delivery_id, update_id, channel)
    return None


def _completed(finished: SimpleQueue, timeout: float) -> list:
    """Wait up to `timeout` for a future to complete; return it with every other one completed by then."""
    try:
        done = [finished.get(timeout=timeout)]
    except Empty:
        return []
    while not finished.empty():
        done.append(finished.get_nowait())
    return done


def send_one(channel: Channel, policy, uid: str, text: str, recipient_id: int, phone: str, attempt: int,
             breaker=None) -> Result:
    """Send to one recipient, retrying retryable errors with backoff up to the budget.

    While the channel is paused (circuit breaker open) it sends nothing and hands the recipient back.
    """
    breaker = breaker or NoBreaker()
    target = audit.mask_phone(phone)
    events = []
    while True:
        if breaker.wait_seconds("sms"):
            return Result(recipient_id, phone, RecipientState.PENDING, attempt - 1, None, "paused",
                          "SMS is paused while Twilio keeps failing.", events)
        try:
            receipt = channel.send(Message(text=text, to=phone, uid=uid))
        except Unavailable as exc:
            return Result(recipient_id, phone, RecipientState.PENDING, attempt - 1, None, exc.code, exc.message,
                          events)
        except RetryableError as exc:
            breaker.record("sms", ok=False)
            if attempt >= policy.max_attempts:
                message = f"{exc.message} (gave up after {attempt} attempts)"
                events.append(_event(target, "failed", code=exc.code, message=message))
                return Result(recipient_id, phone, RecipientState.FAILED, attempt, None, exc.code, message, events)
            delay = policy.delay(attempt, exc.retry_after)
            events.append(_event(target, "retrying", code=exc.code,
                                 message=f"attempt {attempt}: {exc.message}; next try in {delay:.1f}s"))
            time.sleep(delay)
            attempt += 1
        except InDoubtError as exc:
            breaker.record("sms", ok=False)
            message = (f"No answer from {channel.label} ({exc.message}): it may have gone out; Twilio is asked "
                       "before any resend.")
            events.append(_event(target, "in_doubt", code=exc.code, message=message))
            return Result(recipient_id, phone, RecipientState.IN_DOUBT, attempt, None, exc.code, message, events)
        except ChannelError as exc:
            breaker.record("sms", ok=True)
            events.append(_event(target, "failed", code=exc.code, message=exc.message))
            return Result(recipient_id, phone, RecipientState.FAILED, attempt, None, exc.code, exc.message, events)
        else:
            breaker.record("sms", ok=True)
            events.append(_event(target, "sent", provider_id=receipt.provider_id))
            return Result(recipient_id, phone, RecipientState.SENT, attempt, receipt.provider_id, events=events)


def _event(target: str, outcome: str, provider_id=None, code=None, message="") -> dict:
    return {"target": target, "outcome": outcome, "provider_id": provider_id, "error_code": code,
            "message": message or "", "at": utcnow()}


def _claim(sessions, delivery_id: int, update_id: int, first_id: int, last_id: int, limit: int,
           lease: float) -> list[tuple]:
    """Cancel recipients of first_id..last_id who opted out since publish, then claim up to `limit` pending
    ones for sending."""
    in_batch = (*_in_range(delivery_id, first_id, last_id), R.state == RecipientState.PENDING)
    active = exists().where(SUBSCRIBERS.c.id == R.subscriber_id, SUBSCRIBERS.c.active)
    with sessions() as session, session.begin():
        cancelled = session.execute(
            update(RECIPIENTS).where(*in_batch, ~active)
            .values(state=RecipientState.CANCELLED, error_code="opted_out",
                    error_message="Unsubscribed before this message was sent.", updated_at=utcnow())
            .returning(R.phone)).scalars().all()
        audit.record_many(session, [
            {**_event(audit.mask_phone(phone), "cancelled", code="opted_out",
                      message="unsubscribed before this message was sent"),
             "actor": audit.WORKER, "action": "send", "update_id": update_id, "channel": "sms"}
            for phone in cancelled])
        # SKIP LOCKED: two jobs claiming the same range take different rows rather than the loser getting
        # none (and stopping early) once the winner's update commits. SQLite has one writer and ignores it.
        next_ids = (select(R.id).where(*in_batch).order_by(R.id).limit(limit).with_for_update(skip_locked=True)
                    .scalar_subquery())
        claimed = session.execute(
            update(RECIPIENTS).where(R.id.in_(next_ids), R.state == RecipientState.PENDING, active)
            .values(state=RecipientState.SENDING, attempts=R.attempts + 1, updated_at=utcnow(),
                    claimed_at=utcnow(), lease_until=utcnow() + timedelta(seconds=lease))
            .returning(R.id, R.phone, R.attempts)).all()
    return sorted(tuple(row) for row in claimed)


def _renew(sessions, recipient_ids: list[int], lease: float) -> None:
    """Extend the claims this batch still holds, so the reconciler never takes a live send for a dead one."""
    if recipient_ids:
        with sessions() as session, session.begin():
            session.execute(update(RECIPIENTS).where(R.id.in_(recipient_ids), R.state == RecipientState.SENDING)
                            .values(lease_until=utcnow() + timedelta(seconds=lease)))


def _unclaim(sessions, recipient_ids: list[int]) -> None:
    """Hand back claimed recipients this batch never started (the channel was paused)."""
    if recipient_ids:
        with sessions() as session, session.begin():
            session.execute(update(RECIPIENTS).where(R.id.in_(recipient_ids), R.state == RecipientState.SENDING)
                            .values(state=RecipientState.PENDING, attempts=R.attempts - 1, lease_until=None))


def _has_pending(sessions, delivery_id: int) -> bool:
    with sessions() as session:
        return bool(session.scalar(select(exists().where(R.delivery_id == delivery_id,
                                                         R.state == RecipientState.PENDING))))


def _in_range(delivery_id: int, first_id: int, last_id: int) -> tuple:
    return R.delivery_id == delivery_id, R.id >= first_id, R.id <= last_id


def _record(sessions, update_id: int, results: list[Result], channel: Channel) -> None:
    """Write a chunk of outcomes and their audit entries in one transaction."""
    if not results:
        return
    now = utcnow()
    with sessions() as session, session.begin():
        bulk.update_rows(session, RECIPIENTS, [
            {"id": r.recipient_id, "state": r.state, "provider_id": r.provider_id, "error_code": r.code,
             "error_message": r.message, "attempts": r.attempts, "updated_at": now, "lease_until": None}
            for r in results])
        audit.record_many(session, [
            {**event, "actor": audit.WORKER, "action": "send", "update_id": update_id, "channel": "sms"}
            for r in results for event in r.events], secrets=channel.secrets())


def counts(session, delivery_id: int) -> dict[str, int]:
    """How many recipients of an SMS delivery are in each state."""
    rows = session.execute(select(SmsRecipient.state, func.count()).where(SmsRecipient.delivery_id == delivery_id)
                           .group_by(SmsRecipient.state))
    return {state: n for state, n in rows}


def settle(sessions, delivery_id: int, update_id: int, channel: Channel) -> bool:
    """Once no recipient is pending or sending, give the delivery its final state (exactly one caller does)."""
    with sessions() as session, session.begin():
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
        elif failed == 0:
            state, note = DeliveryState.SENT, f"{sent} sent" + (f", {total - sent} opted out" if total > sent else "")
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
