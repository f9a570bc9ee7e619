"""The drill report: one update's timeline from compose to each channel's completion, with counts and failures.

What a hospital hands its emergency-preparedness committee after an exercise (offered for any update). The
timeline is every audit entry of the update in time order, except the one-per-recipient SMS entries, which are
summed per action and outcome (a fan-out to 10,000 would otherwise be 10,000 lines): nothing is left out.
Phone numbers are masked, those a provider's error message names included.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.core.domain import CHANNEL_LABELS, SMS_DELIVERIES, DeliveryState, RecipientState
from crisiscast.core.masking import mask_numbers
from crisiscast.core.masking import mask_phone
from crisiscast.sending import sms_recipients
from crisiscast.services.hics214 import PER_RECIPIENT
from crisiscast.store.audit import defuse
from crisiscast.store.models import AuditEvent, Delivery, SmsRecipient, Update

SMS_STATES = (RecipientState.SENT, RecipientState.FAILED, RecipientState.IN_DOUBT, RecipientState.CANCELLED,
              RecipientState.PENDING, RecipientState.SENDING)
FAILURES_SHOWN = 200


@dataclass(frozen=True)
class Event:
    """One line of the timeline; `count` > 1 for a sum of per-recipient entries from `at` to `until`."""

    at: datetime
    actor: str
    what: str
    channel: str = ""
    outcome: str = ""
    detail: str = ""
    count: int = 1
    until: datetime | None = None


@dataclass
class ChannelOutcome:
    """One delivery: its state, when it started and finished, the recipients' counts (SMS) and its error."""

    delivery: Delivery
    label: str
    started: datetime | None
    finished: datetime | None
    counts: dict = field(default_factory=dict)
    not_sent: dict = field(default_factory=dict)

    @property
    def error(self) -> str:
        """The delivery's error code and message, numbers masked; empty when it has none."""
        d = self.delivery
        return mask_numbers(f"[{d.error_code}] {d.error_message}" if d.error_code else d.error_message or "")


@dataclass
class Report:
    """Everything the drill report page and its CSV show."""

    update: Update
    timeline: list[Event]
    channels: list[ChannelOutcome]
    failures: list[tuple[str, str, str]]  # (channel label, who or what, why)


def build(session: Session, update: Update) -> Report:
    """The report of `update`, from the database as it stands."""
    return Report(update, timeline(session, update), [_outcome(session, d) for d in update.deliveries],
                  failures(session, update))


def timeline(session: Session, update: Update) -> list[Event]:
    """Compose (the draft's first autosave, when there was one), then every audit entry of the update."""
    events = []
    if update.composed_at is not None:
        events.append(Event(update.composed_at, update.author.username, "compose started (first autosave)"))
    per_recipient = (AuditEvent.channel == "sms") & AuditEvent.action.in_(PER_RECIPIENT) & (
        AuditEvent.outcome != DeliveryState.SKIPPED)
    mine = AuditEvent.update_id == update.id
    for e in session.scalars(select(AuditEvent).where(mine, ~per_recipient)):
        detail = " ".join(p for p in (f"[{e.error_code}]" if e.error_code else "", e.message,
                                      f"id {e.provider_id}" if e.provider_id else "") if p)
        events.append(Event(e.at, e.actor, e.action, CHANNEL_LABELS.get(e.channel or "", e.channel or ""),
                            e.outcome, mask_numbers(detail)))
    summed = session.execute(
        select(AuditEvent.action, AuditEvent.outcome, AuditEvent.error_code, func.count(), func.min(AuditEvent.at),
               func.max(AuditEvent.at)).where(mine, per_recipient)
        .group_by(AuditEvent.action, AuditEvent.outcome, AuditEvent.error_code))
    for action, outcome, code, count, first, last in summed:
        events.append(Event(first, "worker", f"{action} (per recipient)", "SMS", outcome,
                            f"[{code}]" if code else "", count, last))
    return sorted(events, key=lambda e: e.at)


def _outcome(session: Session, delivery: Delivery) -> ChannelOutcome:
    started = session.scalar(select(func.min(AuditEvent.at)).where(
        AuditEvent.update_id == delivery.update_id, AuditEvent.channel == delivery.channel.partition(".")[0],
        AuditEvent.actor.in_(("worker", "system"))))
    counts, not_sent = {}, {}
    if delivery.channel in SMS_DELIVERIES:
        first_claim = session.scalar(select(func.min(SmsRecipient.claimed_at))
                                     .where(SmsRecipient.delivery_id == delivery.id))
        started = min((t for t in (started, first_claim) if t is not None), default=None)
        tally = sms_recipients.counts(session, delivery.id)
        counts = {state: tally.get(state, 0) for state in SMS_STATES}
        not_sent = sms_recipients.not_sent(session, delivery.id)
    if delivery.state == DeliveryState.SKIPPED:
        started = None
    elif delivery.claimed_at is not None:
        started = min(t for t in (started, delivery.claimed_at) if t is not None)
    return ChannelOutcome(delivery, CHANNEL_LABELS.get(delivery.channel, delivery.channel), started,
                          delivery.finished_at, counts, not_sent)


def failures(session: Session, update: Update) -> list[tuple[str, str, str]]:
    """Each channel that failed, partly failed or was skipped, and each SMS recipient whose text failed, with why;
    numbers masked."""
    found = []
    for d in update.deliveries:
        label = CHANNEL_LABELS.get(d.channel, d.channel)
        if d.state in (DeliveryState.FAILED, DeliveryState.PARTIAL, DeliveryState.SKIPPED, DeliveryState.IN_DOUBT):
            found.append((label, d.state.replace("_", " "),
                          mask_numbers(f"[{d.error_code}] {d.error_message or ''}".strip())))
        if d.channel in SMS_DELIVERIES:
            rows = session.scalars(select(SmsRecipient).where(SmsRecipient.delivery_id == d.id,
                                                              SmsRecipient.state == RecipientState.FAILED)
                                   .order_by(SmsRecipient.id).limit(FAILURES_SHOWN))
            found += [(label, mask_phone(r.phone), mask_numbers(f"[{r.error_code}] {r.error_message or ''}".strip()))
                      for r in rows]
    return found


def to_csv(report: Report) -> str:
    """The report as CSV: the timeline, each channel's outcome and counts, then the failures."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def row(*cells) -> None:
        writer.writerow([defuse("" if c is None else str(c)) for c in cells])

    row("section", "at", "until", "actor", "what", "channel", "outcome", "count", "detail")
    for e in report.timeline:
        row("timeline", e.at.isoformat(), e.until.isoformat() if e.until else "", e.actor, e.what, e.channel,
            e.outcome, e.count, e.detail)
    for c in report.channels:
        d = c.delivery
        counts = "; ".join(f"{state.replace('_', ' ')} {n}" for state, n in c.counts.items())
        detail = "; ".join(p for p in (counts, f"provider id {d.provider_id}" if d.provider_id else "", c.error) if p)
        row("channel", c.started.isoformat() if c.started else "", c.finished.isoformat() if c.finished else "",
            "", "channel outcome", c.label, d.state, "", detail)
    for label, who, why in report.failures:
        row("failure", "", "", "", who, label, "failed", "", why)
    return buffer.getvalue()

