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
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from queue import Empty, SimpleQueue

from crisiscast.channels import Channel, ChannelError, InDoubtError, Message, NoBreaker, RetryableError, Unavailable
from crisiscast.core import masking
from crisiscast.core.domain import RecipientState
from crisiscast.sending import sms_recipients as recipients
from crisiscast.sending.sms_recipients import Result

# Results are written this many at a time, or once the oldest unwritten one is FLUSH_SECONDS old.
FLUSH_EVERY = 200
FLUSH_SECONDS = 1.0
# Claimed ahead of the sends: what the sender rate lets out in this long, so that a send waiting in the
# throttle is not claimed minutes before it can go, yet the rate is kept even through slow provider answers.
CLAIM_AHEAD_SECONDS = 10.0


def claim_window(threads: int, rate: float) -> int:
    """How many sends a batch keeps claimed and queued: twice its threads, but no more than the rate needs."""
    return max(1, min(2 * threads, math.ceil(rate * CLAIM_AHEAD_SECONDS)))


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
    unwritten = _Unwritten(sessions, update_id, channel)
    exhausted = False
    chunk = max(1, min(window, 100))
    renew_at = time.monotonic() + lease / 4
    handed_back = False  # a send came back unsent (paused, or no throttle): stop taking more
    while True:
        while len(in_flight) < window and not (exhausted and not pending) and not breaker.wait_seconds("sms") \
                and not handed_back:
            while not pending and ranges:
                pending.extend(recipients.claim(sessions, delivery_id, update_id, *ranges[0], chunk, lease))
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
        for future in _completed(finished, timeout=min(unwritten.due(), renew_at) - time.monotonic()):
            in_flight.pop(future)
            result = future.result()
            unwritten.add(result)
            handed_back = handed_back or result.state == RecipientState.PENDING
        unwritten.write_if_due()
        if time.monotonic() >= renew_at:
            # Every claim still held: sent but not written, on the wire or waiting in the throttle, not started.
            recipients.renew(sessions, [*unwritten.ids(), *in_flight.values(), *(p[0] for p in pending)], lease)
            renew_at = time.monotonic() + lease / 4
    unwritten.write()
    recipients.unclaim(sessions, [p[0] for p in pending])
    if (handed_back or not exhausted) and recipients.has_pending(sessions, delivery_id):
        # Paused, or the throttle was unreachable: the reconciler queues the batches left pending again.
        return max(breaker.wait_seconds("sms"), 1.0)
    recipients.settle(sessions, delivery_id, update_id, channel)
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


def send_one(channel: Channel, policy, uid: str, text: str, recipient_id: int, phone: str, attempt: int,
             breaker=None) -> Result:
    """Send to one recipient, retrying retryable errors with backoff up to the budget.

    While the channel is paused (circuit breaker open) it sends nothing and hands the recipient back.
    """
    breaker = breaker or NoBreaker()
    target = masking.mask_phone(phone)
    events = []
    while True:
        if breaker.wait_seconds("sms"):
            return Result(recipient_id, phone, RecipientState.PENDING, attempt - 1, None, "paused",
                          "SMS is paused while Twilio keeps failing.", events)
        try:
            receipt = channel.send(Message(text=text, to=phone, uid=uid, ref=str(recipient_id)))
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


