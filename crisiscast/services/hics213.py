"""One update as a HICS 213 General Message: who sent what to whom, when, how urgent, and who approved it."""
from __future__ import annotations

from dataclasses import dataclass, field

from crisiscast.core import hics, promise
from crisiscast.core.audience import PUBLIC
from crisiscast.core.domain import CHANNEL_LABELS, ER_ACCESS, OPERATING_STATUS
from crisiscast.store.models import Update

NOT_REQUIRED = "Released by the author (approval not required)"


@dataclass(frozen=True)
class SentOn:
    """One channel of the message as it went out: the exact text it carried and its state."""

    label: str
    lists: str
    state: str
    provider_id: str
    text: str


@dataclass(frozen=True)
class GeneralMessage:
    """The HICS 213's blocks for one update; Reply / Action Taken and Replied by are left to the recipient."""

    incident_name: str
    to: tuple[str, str]
    sender: tuple[str, str]
    subject: str
    date: str
    time: str
    priority: str
    message: str
    approved_by: str
    sent_on: list[SentOn] = field(default_factory=list)
    response_required: bool = False


def approval_line(update: Update, zone: str) -> str:
    """Block 9, in words: who approved it and when, that it was released without approval (break-glass), or
    that approval was not required when it went out."""
    if update.release == "break_glass":
        return (f"NOT APPROVED: released by {update.author.username} without approval (break-glass): "
                f"{update.release_reason}")
    if update.approved_by is None:
        return NOT_REQUIRED
    at = update.approved_at
    return update.approved_by.username + (f", approved {hics.stamp(at, zone)}" if at else "")


def general_message(update: Update, zone: str) -> GeneralMessage:
    """The update's HICS 213, dates and times in the hospital's `zone`."""
    at = hics.local(update.published_at, zone)
    return GeneralMessage(
        incident_name=update.incident.title, to=_addressee(update), sender=(update.author.username, hics.PIO),
        subject=update.headline, date=at.strftime(hics.DATE_FORMAT),
        time=f"{at.strftime(hics.TIME_FORMAT)} {at.tzname()}",
        priority=hics.priority(update.er_access, update.operating_status), message=_message(update, zone),
        approved_by=approval_line(update, zone),
        sent_on=[_sent_on(d) for d in update.deliveries if "." not in d.channel])


def _addressee(update: Update) -> tuple[str, str]:
    """Block 2: the public for a public update, staff for an internal one; who exactly is in block 8."""
    if update.audience == PUBLIC:
        return "The public", "Recipients on the channels listed under 8. Message"
    return "Hospital staff (internal: not public)", "Recipients on the lists listed under 8. Message"


def _message(update: Update, zone: str) -> str:
    """Block 8: the statuses and the text as published, and what became of it."""
    lines = [f"ER access: {ER_ACCESS.get(update.er_access, update.er_access)}",
             f"Hospital: {OPERATING_STATUS.get(update.operating_status, update.operating_status)}", "",
             update.headline]
    if update.body:
        lines += ["", update.body]
    promised = promise.for_update(update, zone)
    if promised:
        lines += ["", promised]
    if update.corrects is not None:
        lines += ["", f"Corrects update #{update.corrects.id}: {update.corrects.headline}"]
    if update.retracted_at is not None:
        lines += ["", f"RETRACTED {hics.stamp(update.retracted_at, zone)}: {update.retraction_reason}"]
    return "\n".join(lines)


def _sent_on(delivery) -> SentOn:
    rendering = delivery.rendering or {}
    lists = ", ".join(delivery.audience or []) if delivery.channel == "sms" else ""
    text = "\n".join(part for part in (rendering.get("title", ""), rendering.get("text", "")) if part)
    return SentOn(CHANNEL_LABELS.get(delivery.channel, delivery.channel), lists, delivery.state,
                  delivery.provider_id or "", text)


CSV_HEADER = ("Incident Name", "To: Print Name", "To: Position", "From: Print Name", "From: Position", "Subject",
              "Date", "Time", "Priority", "Message", "Response Required", "Approved by: Print Name",
              "Approved by: Signature", "Reply / Action Taken", "Replied by: Print Name", "Replied by: Signature",
              "Replied by: Position", "Replied by: Facility", "Replied by: Date/Time")


def csv_rows(form: GeneralMessage) -> list[list[str]]:
    """The header and one row; the message followed by each channel's text as sent. Signatures stay empty."""
    sent = "\n".join(f"{s.label}{f' (lists: {s.lists})' if s.lists else ''} [{s.state}]: {s.text}"
                     for s in form.sent_on)
    message = form.message + (f"\n\nAs sent:\n{sent}" if sent else "")
    row = [form.incident_name, *form.to, *form.sender, form.subject, form.date, form.time, form.priority,
           message, "yes" if form.response_required else "no", form.approved_by,
           "", "", "", "", "", "", ""]
    return [list(CSV_HEADER), row]
