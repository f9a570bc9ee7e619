"""The reconciler: the database is the truth, the queue only carries work. Run it often; it is safe to repeat.

1. A claim whose lease ran out (its worker died mid-send) is *in doubt*: the request may have reached the
   provider. So is a send that got no answer.
2. Whatever is in doubt is looked up at the provider before anything is resent: found, it is sent (with
   the provider's id); not found, it goes back to pending. If the lookup itself fails, it stays in doubt.
3. Pending deliveries whose job is not queued are queued; SMS batches with pending recipients whose job is
   not queued are queued; an SMS delivery with nothing left to send is settled.
4. Delivery receipts kept because their message's SID was not stored yet are applied once it is.
"""
from __future__ import annotations

import bisect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from crisiscast.channels import ChannelError, Message
from crisiscast.core import masking
from crisiscast.core.domain import SMS_DELIVERIES, DeliveryState, RecipientState, channel_action
from crisiscast.sending import sms_recipients
from crisiscast.sending.delivery import Claimed, message_of
from crisiscast.services import delivery_receipts
from crisiscast.store import audit
from crisiscast.store.models import Delivery, SmsReceipt, SmsRecipient, Update, utcnow

LOOKUP_THREADS = 8  # SMS lookups at a time in one pass
# How long after a claim ends its status callback may still come (Twilio calls within seconds of creating
# the message); a row in doubt waits that long for the callback before a lookup decides it.
CALLBACK_WAIT = timedelta(seconds=10)
# Receipts the reconciler applies in one pass, at most: the workers' applier thread takes the rest.
RECEIPTS_PER_PASS = 2_000


@dataclass
class Report:
    """What one pass did, for logs, the CLI and tests."""

    expired: int = 0
    found: int = 0
    resend: int = 0
    lookup_failed: int = 0
    requeued: int = 0
    batches: int = 0
    settled: int = 0
    receipts: int = 0
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when the pass changed or found anything worth a log line."""
        return any((self.expired, self.found, self.resend, self.lookup_failed, self.requeued, self.batches,
                    self.settled, self.receipts))

    def __str__(self) -> str:
        return (f"{self.expired} claims expired, {self.found} found at the provider, {self.resend} to resend, "
                f"{self.lookup_failed} lookups failed, {self.requeued} deliveries and {self.batches} SMS batches "
                f"queued, {self.settled} settled, {self.receipts} receipts applied")


class QueuePort:
    """What the reconciler needs from the queue (crisiscast.jobs provides the RQ one)."""

    def enqueue_delivery(self, delivery_id: int, channel: str, attempts: int) -> bool: ...
    def enqueue_batch(self, delivery_id: int, first_id: int, last_id: int) -> bool: ...


def reconcile(sessions, channels, queue: QueuePort, breaker=None, grace: float = 10.0,
              now: datetime | None = None) -> Report:
    """One pass over everything not finished."""
    now = now or utcnow()
    report = Report()
    _expire_claims(sessions, now, report)
    _resolve_deliveries(sessions, channels, report)
    _apply_receipts(sessions, report)
    if breaker is None or not breaker.wait_seconds("sms"):
        _resolve_recipients(sessions, channels["sms"], report, now)
    _queue_pending(sessions, queue, now - timedelta(seconds=grace), now, report)
    _resume_fanouts(sessions, channels["sms"], queue, breaker, report)
    return report


def _apply_receipts(sessions, report: Report) -> None:
    """Receipts first: one that names a row in doubt settles it without asking Twilio. The workers' applier
    thread does most of this; here a bounded share, and a failure is noted, never the end of the pass (a row a
    waiting receipt names is not resent either way)."""
    try:
        report.receipts = delivery_receipts.apply_waiting(sessions, most=RECEIPTS_PER_PASS)
    except Exception as exc:  # noqa: BLE001 - a lock timeout or the database away: the applier tries again
        report.notes.append(f"receipts not applied this pass: {type(exc).__name__}: {exc}")


def _expire_claims(sessions, now: datetime, report: Report) -> None:
    with sessions() as session, session.begin():
        # An SMS delivery that died before it planned its recipients sent nothing: plan it again.
        session.execute(update(Delivery).where(
            Delivery.state == DeliveryState.SENDING, Delivery.channel.in_(SMS_DELIVERIES), Delivery.batches.is_(None),
            Delivery.lease_until < now).values(state=DeliveryState.PENDING, lease_until=None))
        expired = session.execute(
            update(Delivery).where(Delivery.state == DeliveryState.SENDING, Delivery.channel.not_in(SMS_DELIVERIES),
                                   Delivery.lease_until < now)
            .values(state=DeliveryState.IN_DOUBT, error_code="in_doubt", lease_until=None,
                    error_message="The worker sending this stopped; asking the provider before any resend.")
            .returning(Delivery.id, Delivery.update_id, Delivery.channel, Delivery.target)).all()
        stale = session.execute(
            # lease_until stays: the claim's end bounds the window in which its message can have been created.
            update(SmsRecipient).where(SmsRecipient.state == RecipientState.SENDING, SmsRecipient.lease_until < now)
            .values(state=RecipientState.IN_DOUBT, error_code="in_doubt",
                    error_message="The worker sending this stopped; asking Twilio before any resend.")
            .returning(SmsRecipient.delivery_id, SmsRecipient.phone)).all()
        update_ids = dict(session.execute(select(Delivery.id, Delivery.update_id).where(
            Delivery.id.in_({d for d, _ in stale}))).all()) if stale else {}
        audit.record_many(session, [
            {"actor": audit.SYSTEM, "action": "reconcile", "outcome": "in_doubt", "update_id": u, "channel": c,
             "target": t, "message": "claim expired: the worker stopped mid-send"} for _, u, c, t in expired] + [
            {"actor": audit.SYSTEM, "action": "reconcile", "outcome": "in_doubt", "update_id": update_ids[d],
             "channel": "sms", "target": masking.mask_phone(p), "message": "claim expired: the worker stopped mid-send"}
            for d, p in stale])
    report.expired += len(expired) + len(stale)


def _resolve_deliveries(sessions, channels, report: Report) -> None:
    with sessions() as session:
        rows = session.execute(select(Delivery, Update.uid).join(Update)
                               .where(Delivery.state == DeliveryState.IN_DOUBT, Delivery.channel.not_in(SMS_DELIVERIES))).all()
    for d, uid in rows:
        claimed = Claimed(d.id, d.update_id, uid, d.channel, d.rendering, d.target, d.attempts)
        channel, action = channel_action(d.channel)
        channel = channels[channel]
        try:  # a delete in doubt is simply done again: deleting twice is harmless
            receipt = None if action == "delete" else channel.find(message_of(claimed), d.claimed_at or d.created_at)
        except Exception as exc:  # noqa: BLE001 - one failed lookup must not stop the rest; it stays in doubt
            report.lookup_failed += 1
            report.notes.append(f"{d.channel} #{d.id}: lookup failed: {_reason(exc)}")
            continue
        values = (dict(state=DeliveryState.SENT, provider_id=receipt.provider_id, error_code=None,
                       error_message=None, finished_at=utcnow()) if receipt else
                  dict(state=DeliveryState.PENDING, next_attempt_at=None, error_code="resend",
                       error_message=f"Not found at {channel.label}: sending again."))
        with sessions() as session, session.begin():
            changed = session.execute(update(Delivery).where(Delivery.id == d.id,
                                                             Delivery.state == DeliveryState.IN_DOUBT)
                                      .values(updated_at=utcnow(), **values)).rowcount
            if changed:
                audit.record(session, actor=audit.SYSTEM, action="reconcile", outcome=values["state"],
                             update_id=d.update_id, channel=d.channel, target=d.target,
                             provider_id=receipt.provider_id if receipt else None,
                             message=f"found at {channel.label} after no answer" if receipt else
                             f"not at {channel.label}: will send")
        if changed:
            report.found += bool(receipt)
            report.resend += not receipt


@dataclass(frozen=True)
class _InDoubt:
    """An SMS recipient row in doubt, and the window in which its send can have created a message."""

    id: int
    phone: str
    update_id: int
    message: Message
    start: datetime
    end: datetime


def _resolve_recipients(sessions, channel, report: Report, now: datetime) -> None:
    """Credit each row in doubt with a message only its own send can have created, or send it again.

    A message counts for a row only if it went from our number to the row's number with the row's text,
    was created within the row's claim (its start, less a few seconds of clock slack, to its end), and is
    on no other row. Rows are taken oldest claim first and a message taken in this pass is not given twice.
    While status callbacks can still come (they credit a row by construction) or another send to the same
    number is on the wire, the row waits for the next pass.
    """
    rows = _rows_in_doubt(sessions, now - CALLBACK_WAIT if channel.status_callback_url() else now)
    with ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="lookup") as lookups:
        looked_up = list(lookups.map(lambda row: _look_up(channel, row, now), rows))
    found = {r.provider_id for matches, _ in looked_up for r in matches or ()}
    with sessions() as session:
        taken = set(session.scalars(select(SmsRecipient.provider_id).where(SmsRecipient.provider_id.in_(found)))
                    ) if found else set()
    for row, (matches, error) in zip(rows, looked_up):
        if error is not None:
            report.lookup_failed += 1
            report.notes.append(f"sms {masking.mask_phone(row.phone)}: lookup failed: {_reason(error)}")
            continue
        receipt = next((r for r in matches if r.provider_id not in taken), None)
        if receipt is not None:
            taken.add(receipt.provider_id)
        if _settle_in_doubt(sessions, row, receipt):
            report.found += bool(receipt)
            report.resend += not receipt


def _rows_in_doubt(sessions, ended_before: datetime) -> list[_InDoubt]:
    """Rows in doubt whose claim ended before `ended_before`, oldest claim first, none whose number has a
    send on the wire (its message could fall in their window) and none a kept receipt names (it proves the
    message exists; the applier could not take the row this pass)."""
    claim_end = func.coalesce(SmsRecipient.lease_until, SmsRecipient.updated_at)
    with sessions() as session:
        busy = set(session.scalars(select(SmsRecipient.phone).where(SmsRecipient.state == RecipientState.SENDING)))
        named = set(session.scalars(select(SmsReceipt.recipient_id).where(SmsReceipt.waiting,
                                                                          SmsReceipt.recipient_id.is_not(None))))
        rows = session.execute(
            select(SmsRecipient.id, SmsRecipient.phone, Delivery.update_id, Delivery.rendering, Update.uid,
                   SmsRecipient.claimed_at, claim_end).join(Delivery, Delivery.id == SmsRecipient.delivery_id)
            .join(Update, Update.id == Delivery.update_id)
            .where(SmsRecipient.state == RecipientState.IN_DOUBT, claim_end < ended_before)
            .order_by(SmsRecipient.claimed_at, SmsRecipient.id).limit(1000)).all()
    return [_InDoubt(i, phone, update_id, Message(text=rendering["text"], to=phone, uid=uid, ref=str(i)),
                     start or end, end)
            for i, phone, update_id, rendering, uid, start, end in rows if phone not in busy and i not in named]


def _look_up(channel, row: _InDoubt, now: datetime):
    # Up to now, not to the claim's end: a provider that took the request and created the message after we
    # stopped waiting (a loaded API, a long queue) stamps it later than the claim. Nothing else can be mistaken
    # for it: messages already on a row are not taken, and a number with another send on the wire waits.
    try:
        return channel.candidates(row.message, row.start, max(row.end, now)), None
    except Exception as exc:  # noqa: BLE001 - one failed lookup must not stop the rest; it stays in doubt
        return None, exc


def _settle_in_doubt(sessions, row: _InDoubt, receipt) -> bool:
    """Mark the row sent with `receipt`'s message, or pending again without one; False if it moved meanwhile."""
    values = (dict(state=RecipientState.SENT, provider_id=receipt.provider_id, error_code=None,
                   error_message=None, lease_until=None) if receipt else
              dict(state=RecipientState.PENDING, error_code="resend", lease_until=None,
                   error_message="Not found at Twilio: sending again."))
    unsettled = [SmsRecipient.id == row.id, SmsRecipient.state == RecipientState.IN_DOUBT,
                 SmsRecipient.provider_id.is_(None)]
    if not receipt:  # a receipt kept while we asked proves the message exists, whatever the lookup found
        unsettled.append(~exists().where(SmsReceipt.recipient_id == SmsRecipient.id, SmsReceipt.waiting))
    try:
        with sessions() as session, session.begin():
            changed = session.execute(update(SmsRecipient).where(*unsettled)
                                      .values(updated_at=utcnow(), **values)).rowcount
            if changed:
                audit.record(session, actor=audit.SYSTEM, action="reconcile", outcome=values["state"],
                             update_id=row.update_id, channel="sms", target=masking.mask_phone(row.phone),
                             provider_id=receipt.provider_id if receipt else None,
                             message="found at Twilio after no answer" if receipt else "not at Twilio: will send")
    except IntegrityError:  # its message was credited to its own row meanwhile: the next pass decides again
        return False
    return bool(changed)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, ChannelError) else f"{type(exc).__name__}: {exc}"


def _queue_pending(sessions, queue: QueuePort, settled_before: datetime, now: datetime, report: Report) -> None:
    with sessions() as session:
        due = session.execute(select(Delivery.id, Delivery.channel, Delivery.attempts).where(
            Delivery.state == DeliveryState.PENDING, Delivery.updated_at < settled_before,
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now))).all()
    for delivery_id, channel, attempts in due:
        report.requeued += queue.enqueue_delivery(delivery_id, channel, attempts)


def _resume_fanouts(sessions, channel, queue: QueuePort, breaker, report: Report) -> None:
    with sessions() as session:
        fanouts = session.execute(select(Delivery.id, Delivery.update_id, Delivery.batches).where(
            Delivery.state == DeliveryState.SENDING, Delivery.channel.in_(SMS_DELIVERIES),
            Delivery.batches.is_not(None))).all()
    for delivery_id, update_id, batches in fanouts:
        with sessions() as session:
            tally = sms_recipients.counts(session, delivery_id)
            open_rows = session.execute(select(SmsRecipient.id, SmsRecipient.state).where(
                SmsRecipient.delivery_id == delivery_id,
                SmsRecipient.state.in_([RecipientState.PENDING, RecipientState.SENDING]))).all()
        if not any(tally.get(s) for s in (RecipientState.PENDING, RecipientState.SENDING, RecipientState.IN_DOUBT)):
            report.settled += sms_recipients.settle(sessions, delivery_id, update_id, channel)
            continue
        if breaker is not None and breaker.wait_seconds("sms"):
            continue
        pending = sorted(i for i, state in open_rows if state == RecipientState.PENDING)
        sending = sorted(i for i, state in open_rows if state == RecipientState.SENDING)
        for first_id, last_id in batches:
            # A batch with a send on the wire has a live worker (its claims are leased); leave it be.
            if _any_between(pending, first_id, last_id) and not _any_between(sending, first_id, last_id):
                report.batches += queue.enqueue_batch(delivery_id, first_id, last_id)


def _any_between(sorted_ids: list[int], first_id: int, last_id: int) -> bool:
    at = bisect.bisect_left(sorted_ids, first_id)
    return at < len(sorted_ids) and sorted_ids[at] <= last_id
