"""SMS fan-out: batches of recipients across workers, bounded concurrency inside each.

send_batch() claims small chunks of a batch (cancelling anyone who opted out since publish), then of the
delivery's later batches, sends them on a thread pool (the channel holds the shared throttle per request),
retries 429/5xx in place with backoff, and writes results and audit entries in bulk. The last batch to
finish settles the delivery. The rows themselves are crisiscast.sending.sms_recipients'.

At any sender rate a batch writes its results within FLUSH_SECONDS (or FLUSH_EVERY at a time, at fast
rates), renews every claim it holds four times per lease, and claims no more than its sender can send in
CLAIM_AHEAD_SECONDS: a live worker's claims never run out, and a crash puts few sends in doubt.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

from crisiscast.channels import Channel, ChannelError, InDoubtError, Message, NoBreaker, RetryableError, Unavailable
from crisiscast.core import masking
from crisiscast.core.domain import RecipientState
from crisiscast.sending import sms_recipients as recipients
from crisiscast.sending.sms_recipients import Result
from crisiscast.store import queries

# Results are written this many at a time, or once the oldest unwritten one is FLUSH_SECONDS old.
FLUSH_EVERY = 200
FLUSH_SECONDS = 1.0
# Claimed ahead of the sends: what the sender rate lets out in this long, so that a send waiting in the
# throttle is not claimed minutes before it can go, yet the rate is kept even through slow provider answers.
CLAIM_AHEAD_SECONDS = 10.0
# How often a running fan-out asks whether its update was retracted (one small query; sends are held back within it).
WITHDRAWN_CHECK_SECONDS = 1.0


def claim_window(threads: int, rate: float) -> int:
    """How many sends a batch keeps claimed and queued: twice its threads, but no more than the rate needs."""
    return max(1, min(2 * threads, math.ceil(rate * CLAIM_AHEAD_SECONDS)))


@dataclass(frozen=True)
class FanoutContext:
    """What every SMS batch of a worker process sends with."""

    sessions: Any
    channel: Channel
    policy: Any  # a crisiscast.sending.delivery.RetryPolicy
    executor: Executor
    breaker: Any = field(default_factory=NoBreaker)
    lease: float = 120.0
    window: int = 1  # sends kept claimed and queued at a time: see claim_window()


@dataclass(frozen=True)
class Batch:
    """One SMS batch: recipients first_id..last_id of a delivery, and the delivery's `later` batches."""

    delivery_id: int
    update_id: int
    uid: str
    text: str
    first_id: int
    last_id: int
    later: Sequence[tuple[int, int]] = ()


def send_batch(ctx: FanoutContext, batch: Batch) -> float | None:
    """Send every pending recipient with first_id <= id <= last_id, at most `ctx.window` at a time.

    A batch that found work in its own range goes on, once that range is all claimed, to the `later`
    batches of the delivery, rather than letting its requests drain to none before the next batch's job
    starts: the sends stay at the cap across batch boundaries, and the later batches' jobs find less to do,
    or nothing (and then stop at once). Claims make it safe for two jobs to work the same range. The
    channel enforces the shared throttle itself, around each request it makes. Returns None when done, or,
    when the channel was paused, how long it stays paused (the rest waits as pending).
    """
    run = _Run(ctx, batch)
    while True:
        run.submit()
        if not run.in_flight:
            break
        run.collect()
    return run.finish()


class _Run:
    """One send_batch call: claims waiting to be sent, sends in flight, results not written yet."""

    def __init__(self, ctx: FanoutContext, batch: Batch):
        self.ctx, self.batch = ctx, batch
        self.ranges = deque([(batch.first_id, batch.last_id)])
        self.found_work = False
        self.pending: deque = deque()
        self.in_flight: dict = {}
        self.finished: SimpleQueue = SimpleQueue()  # futures as they complete: no waiter on every one per wake-up
        self.unwritten = _Unwritten(ctx.sessions, batch.update_id, ctx.channel)
        self.exhausted = False
        self.chunk = max(1, min(ctx.window, 100))
        self.renew_at = time.monotonic() + ctx.lease / 4
        self.handed_back = False  # a send came back unsent (paused, or no throttle): stop taking more
        # Set once the update is retracted: sends still waiting for their turn are withdrawn, not sent.
        self.stop = threading.Event()
        self.check_at = time.monotonic() + WITHDRAWN_CHECK_SECONDS

    def submit(self) -> None:
        """Start sends until the window is full, the work runs out, or the channel is paused."""
        ctx = self.ctx
        while len(self.in_flight) < ctx.window and not (self.exhausted and not self.pending) \
                and not ctx.breaker.wait_seconds("sms") and not self.handed_back:
            if not self.pending:
                self._claim()
            if not self.pending:
                self.exhausted = True
                break
            recipient_id, phone, attempt = self.pending.popleft()
            future = ctx.executor.submit(send_one, ctx, self.batch, (recipient_id, phone, attempt), self.stop)
            self.in_flight[future] = recipient_id
            future.add_done_callback(self.finished.put)

    def _claim(self) -> None:
        """Claim the next chunk of this batch's range, then (once it found work) of the later batches'."""
        ctx, batch = self.ctx, self.batch
        while not self.pending and self.ranges:
            self.pending.extend(recipients.claim(ctx.sessions, batch.delivery_id, batch.update_id, self.ranges[0],
                                                 self.chunk, ctx.lease))
            if self.pending and not self.found_work:
                self.found_work = True
                self.ranges.extend(batch.later)
            elif not self.pending:
                self.ranges.popleft()

    def collect(self) -> None:
        """Take the sends completed so far; write their results and renew the claims when due."""
        for future in _completed(self.finished, timeout=min(self.unwritten.due(), self.renew_at) - time.monotonic()):
            self.in_flight.pop(future)
            result = future.result()
            self.unwritten.add(result)
            self.handed_back = self.handed_back or result.state == RecipientState.PENDING
        self.unwritten.write_if_due()
        if time.monotonic() >= self.check_at:
            self.check_at = time.monotonic() + WITHDRAWN_CHECK_SECONDS
            with self.ctx.sessions() as session:
                if queries.story_withdrawn(session, self.batch.update_id):
                    self.stop.set()
                    self.handed_back = True
        if time.monotonic() >= self.renew_at:
            # Every claim still held: sent but not written, on the wire or waiting in the throttle, not started.
            held = [*self.unwritten.ids(), *self.in_flight.values(), *(p[0] for p in self.pending)]
            recipients.renew(self.ctx.sessions, held, self.ctx.lease)
            self.renew_at = time.monotonic() + self.ctx.lease / 4

    def finish(self) -> float | None:
        """Write what is left and give back unsent claims; settle the delivery, or say how long it is paused."""
        ctx, batch = self.ctx, self.batch
        self.unwritten.write()
        recipients.unclaim(ctx.sessions, [p[0] for p in self.pending])
        if (self.handed_back or not self.exhausted) and recipients.has_pending(ctx.sessions, batch.delivery_id):
            # Paused, or the throttle was unreachable: the reconciler queues the batches left pending again.
            return max(ctx.breaker.wait_seconds("sms"), 1.0)
        recipients.settle(ctx.sessions, batch.delivery_id, batch.update_id, ctx.channel)
        return None


class _Unwritten:
    """Results not written yet: written FLUSH_EVERY at a time, or once the oldest is FLUSH_SECONDS old."""

    def __init__(self, sessions, update_id: int, channel: Channel):
        self.sessions, self.update_id, self.channel = sessions, update_id, channel
        self.results: list[Result] = []
        self.since = 0.0  # when the oldest of them came in

    def add(self, result: Result) -> None:
        if not self.results:
            self.since = time.monotonic()
        self.results.append(result)

    def due(self) -> float:
        """When they must be written (monotonic time; never, while there are none)."""
        return self.since + FLUSH_SECONDS if self.results else math.inf

    def ids(self) -> list[int]:
        return [r.recipient_id for r in self.results]

    def write_if_due(self) -> None:
        if len(self.results) >= FLUSH_EVERY or time.monotonic() >= self.due():
            self.write()

    def write(self) -> None:
        recipients.record(self.sessions, self.update_id, self.results, self.channel)
        self.results = []


def _completed(finished: SimpleQueue, timeout: float) -> list:
    """Wait up to `timeout` for a future to complete; return it with every other one completed by then."""
    try:
        done = [finished.get(timeout=max(0.0, timeout))]
    except Empty:
        return []
    while not finished.empty():
        done.append(finished.get_nowait())
    return done


def send_one(ctx: FanoutContext, batch: Batch, claimed: tuple[int, str, int], stop: threading.Event) -> Result:
    """Send the batch's text to one recipient, retrying retryable errors with backoff up to the budget.

    While the channel is paused (circuit breaker open) it sends nothing and hands the recipient back.
    """
    channel, policy, breaker, uid, text = ctx.channel, ctx.policy, ctx.breaker, batch.uid, batch.text
    recipient_id, phone, attempt = claimed
    target = masking.mask_phone(phone)
    events = []
    while True:
        if breaker.wait_seconds("sms"):
            return Result(recipient_id, phone, RecipientState.PENDING, attempt - 1, None, "paused",
                          "SMS is paused while Twilio keeps failing.", events)
        try:
            receipt = channel.send(Message(text=text, to=phone, uid=uid, ref=str(recipient_id),
                                           wanted=lambda: not stop.is_set()))
        except Unavailable as exc:
            return Result(recipient_id, phone, RecipientState.PENDING, attempt - 1, None, exc.code, exc.message,
                          events)
        except RetryableError as exc:
            breaker.record("sms", ok=False)
            if attempt >= policy.max_attempts:
                message = f"{exc.message} (gave up after {attempt} attempts)"
                events.append(recipients.event(target, "failed", code=exc.code, message=message))
                return Result(recipient_id, phone, RecipientState.FAILED, attempt, None, exc.code, message, events)
            delay = policy.delay(attempt, exc.retry_after)
            events.append(recipients.event(target, "retrying", code=exc.code,
                                 message=f"attempt {attempt}: {exc.message}; next try in {delay:.1f}s"))
            time.sleep(delay)
            attempt += 1
        except InDoubtError as exc:
            breaker.record("sms", ok=False)
            message = (f"No answer from {channel.label} ({exc.message}): it may have gone out; Twilio is asked "
                       "before any resend.")
            events.append(recipients.event(target, "in_doubt", code=exc.code, message=message))
            return Result(recipient_id, phone, RecipientState.IN_DOUBT, attempt, None, exc.code, message, events)
        except ChannelError as exc:
            breaker.record("sms", ok=True)
            events.append(recipients.event(target, "failed", code=exc.code, message=exc.message))
            return Result(recipient_id, phone, RecipientState.FAILED, attempt, None, exc.code, exc.message, events)
        else:
            breaker.record("sms", ok=True)
            events.append(recipients.event(target, "sent", provider_id=receipt.provider_id))
            return Result(recipient_id, phone, RecipientState.SENT, attempt, receipt.provider_id, events=events)


