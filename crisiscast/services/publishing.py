"""Use cases of the console: preview, publish (the outbox), retry, subscribers. No web, no queue imports."""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisiscast.core.audience import EXERCISE, INTERNAL, PUBLIC
from crisiscast.core.audience import audience as decide_audience
from crisiscast.core.domain import CHANNEL_LABELS, SMS_DELIVERIES, DeliveryState, Draft, RecipientState, ValidationError
from crisiscast.core.fields import REASON_MAX, too_long
from crisiscast.core.rendering import RenderContext, Rendering, render_all
from crisiscast.core.text import clean
from crisiscast.core.throughput import Estimate
from crisiscast.sending import supersede
from crisiscast.services import exercises, retraction, review, subscribers
from crisiscast.store import audit, queries
from crisiscast.store.models import Delivery, Incident, SmsRecipient, Update, User, utcnow


def new_uid() -> str:
    """A fresh public identifier for an update; the compose form carries it so a resubmission is recognised."""
    return secrets.token_hex(6)


def update_link(settings, uid: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/u/{uid}"


def render_context(settings, uid: str, audience: str = PUBLIC, limits: dict | None = None) -> RenderContext:
    """What rendering needs; an internal update or an exercise gets no link: it has no public page to link to.
    `limits` holds what channels learnt from their provider (channel_limits)."""
    link = update_link(settings, uid) if audience == PUBLIC else ""
    return RenderContext(org_name=settings.ORG_NAME, link=link, sms_max_segments=settings.SMS_MAX_SEGMENTS,
                         zone=settings.TIMEZONE, now=utcnow(), exercise=audience == EXERCISE,
                         **{f"{name}_max": value for name, value in (limits or {}).items()})


def channel_limits(draft: Draft, channels) -> dict:
    """The limits the draft's channels read from their provider: a Mastodon instance's status length (asked
    once per process, and only when the draft goes to Mastodon)."""
    if not channels or "mastodon" not in draft.channels or "mastodon" not in channels:
        return {}
    return {"mastodon": channels["mastodon"].max_characters()}


@dataclass(frozen=True)
class Checked:
    """A draft ready to publish: who it is for, and exactly what each channel will carry."""

    audience: str
    renderings: dict[str, Rendering]
    # Channels chosen that this update does not use (an exercise's feed, say), each with the reason shown.
    skipped: dict[str, str] = field(default_factory=dict)


def draft_audience(session: Session, draft: Draft) -> str:
    """Exercise, public or internal, from the draft's mark and channels and its SMS lists' public flags now."""
    return decide_audience(draft.channels, draft.lists if "sms" in draft.channels else (),
                           subscribers.public_flags(session), exercise=exercises.is_exercise(session, draft))


def check(session: Session, draft: Draft, settings, uid: str, channels=None) -> Checked:
    """Validate the draft, its SMS lists included, decide its audience and render it as publish will (to the
    limits `channels` read from their providers, when given)."""
    draft.validate()
    if "sms" in draft.channels:
        subscribers.check_lists(session, draft.lists)
    chosen = draft_audience(session, draft)
    if chosen == EXERCISE:
        exercises.check(session, draft)
    ctx = render_context(settings, uid, chosen, channel_limits(draft, channels))
    renderings = render_all(draft, ctx)
    if "x" in renderings:
        renderings["x"] = review.distinct_x(session, draft, ctx, renderings["x"])
    skipped = exercises.skipped(draft.channels, settings) if chosen == EXERCISE else {}
    if skipped and set(draft.channels) <= set(skipped):
        raise ValidationError({"channels": "An exercise would send nothing on these channels: " +
                               " ".join(skipped.values()) + " Choose SMS to a drill list."})
    return Checked(chosen, renderings, skipped)


def check_draft(session: Session, draft: Draft, settings, uid: str) -> dict[str, Rendering]:
    """Validate the draft, its SMS lists included, and render it as publish will."""
    return check(session, draft, settings, uid).renderings


def sms_estimate(session: Session, draft: Draft, settings, rendering: Rendering) -> dict:
    """Recipients, segments and the time the fan-out will take: all its segments at the sender's (or the
    Messaging Service pool's) segments per second, SMS_SENDER_RATE."""
    return Estimate(subscribers.audience_count(session, draft.lists), rendering.stats["segments"],
                    settings.SMS_SENDER_RATE, settings.SMS_SENDER_TYPE,
                    pooled=bool(settings.TWILIO_MESSAGING_SERVICE_SID)).to_dict()


@dataclass(frozen=True)
class Release:
    """How an update is let out: "direct", "approved" by a second person, or "break_glass" with a reason."""

    kind: str = "direct"
    approved_by: User | None = None
    at: datetime | None = None
    reason: str = ""
    # What the audit log says of the release, recorded with the update's id in the publish's transaction.
    actor: str = ""
    note: str = ""


DIRECT = Release()


@dataclass
class Published:
    """What publish did: the update, whether this call created it, and whether its jobs reached the queue."""

    update: Update
    created: bool
    queued: bool = True
    queue_error: str = ""


def publish(session: Session, draft: Draft, *, uid: str, author: User, settings, channels,
            enqueue: Callable[[int, str], None], release: Release = DIRECT) -> Published:
    """Store the update and one delivery per channel in one transaction, then enqueue the pending ones.

    Publishing the same `uid` again returns the stored update and sends nothing more. Whatever the caller
    changed in `session` beforehand (an approval's claim) commits with the update, or not at all.
    """
    existing = session.scalar(select(Update).where(Update.uid == uid))
    if existing is not None:
        return Published(existing, created=False)
    checked = check(session, draft, settings, uid, channels)
    try:
        update = _store(session, draft, uid, author, checked, channels)
        _released(session, update, release)
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = session.scalar(select(Update).where(Update.uid == uid))
        if existing is None:
            raise
        return Published(existing, created=False)
    result = Published(update, created=True)
    for delivery in update.deliveries:
        if delivery.state != DeliveryState.PENDING:
            continue
        try:
            enqueue(delivery.id, delivery.channel)
        except Exception as exc:  # the outbox keeps it; it goes out once the queue is back
            result.queued, result.queue_error = False, f"{type(exc).__name__}: {exc}"
    return result


def _released(session: Session, update: Update, release: Release) -> None:
    update.release, update.release_reason = release.kind, release.reason
    if release.approved_by is not None:
        update.approved_by_id, update.approved_at = release.approved_by.id, release.at
    if release.note:  # an approval, or loudly a publish without one
        audit.record(session, actor=release.actor, action=release.kind, update_id=update.id, message=release.note,
                     outcome="warning" if release.kind == "break_glass" else "ok")


def published(session: Session, uid: str) -> Update | None:
    """The update already published under `uid`, if any."""
    return session.scalar(select(Update).where(Update.uid == uid))


def differs(update: Update, draft: Draft) -> bool:
    """True when `draft` is not what `update` published: an edit made after publishing, not a double submit."""
    sent = (update.incident.title, update.er_access, update.operating_status, update.headline, update.body,
            update.next_update_at, update.no_further_updates, tuple(d.channel for d in update.deliveries),
            update.exercise)
    sms = next((d for d in update.deliveries if d.channel == "sms"), None)
    lists = tuple(sms.audience or ()) if sms else ()
    typed = (draft.incident, draft.er_access, draft.operating_status, draft.headline, draft.body,
             draft.next_update_at, draft.no_further_updates, tuple(draft.channels), draft.exercise)
    return sent != typed or (sms is not None and tuple(draft.lists) != lists)


def correctable(session: Session, uid: str) -> Update:
    """The update a correction replaces: it must exist and not be retracted."""
    original = session.scalar(select(Update).where(Update.uid == uid))
    if original is None or any(v.retracted_at is not None for v in retraction.story(session, original)):
        raise ValidationError({"corrects": "The update to correct does not exist or was retracted."})
    return original


def _store(session, draft, uid, author, checked: Checked, channels) -> Update:
    corrected = correctable(session, draft.corrects) if draft.corrects else None
    incident = session.scalar(select(Incident).where(Incident.title == draft.incident))
    if incident is None:
        incident = Incident(title=draft.incident)
        session.add(incident)
        session.flush()
        incident.slug = f"{slugify(draft.incident)}-{incident.id}"
    exercise = checked.audience == EXERCISE
    # An exercise never cancels anyone's unsent texts: a drill must not stop a real update reaching staff.
    update = Update(uid=uid, incident=incident, er_access=draft.er_access, operating_status=draft.operating_status,
                    headline=draft.headline, body=draft.body, author=author, published_at=utcnow(),
                    next_update_at=draft.next_update_at, no_further_updates=draft.no_further_updates,
                    corrects=corrected, supersede_earlier=not (draft.keep_earlier or exercise),
                    story_uid=(corrected.story_uid or corrected.uid) if corrected else uid,
                    audience=checked.audience, exercise=exercise)
    session.add(update)
    session.flush()
    note = f" (correction of #{corrected.id})" if corrected else ""
    note += {INTERNAL: " [internal: staff only]", EXERCISE: " [EXERCISE]"}.get(checked.audience, "")
    audit.record(session, actor=author.username, action="publish", outcome="ok", update_id=update.id,
                 message=f"{draft.headline}{note} → {', '.join(CHANNEL_LABELS[c] for c in draft.channels)}")
    for name in draft.channels:
        rendering = checked.renderings[name].to_dict()
        if corrected is not None and name in retraction.TAKEN_DOWN:  # a reply on X and Mastodon, an edit on Facebook
            rendering["corrects_update_id"] = corrected.id
        skip = (exercises.CODE, checked.skipped[name]) if name in checked.skipped else None
        delivery = _add_delivery(session, update, channels[name], rendering, skip, author.username)
        delivery.audience = list(draft.lists) if name == "sms" else None
    session.flush()
    if "sms" in draft.channels and not (draft.keep_earlier or exercise):
        supersede.on_publish(session, update, draft.lists, author.username)
    return update


def _add_delivery(session, update: Update, channel, rendering: dict, skip: tuple[str, str] | None,
                  actor: str) -> Delivery:
    """One delivery of `update`: pending, or skipped with (code, reason): an exercise's, or not configured."""
    missing = channel.missing_settings()
    delivery = Delivery(update=update, channel=channel.name, rendering=rendering, target=channel.describe(),
                        attempts=0, state=DeliveryState.PENDING)
    if skip is None and missing:
        skip = ("not_configured", f"{channel.label} is not configured: set {', '.join(missing)}.")
    if skip is not None:
        code, skip_reason = skip
        delivery.state, delivery.error_code, delivery.error_message = DeliveryState.SKIPPED, code, skip_reason
        delivery.finished_at = utcnow()
        audit.record(session, actor=actor, action="send", outcome="skipped", update_id=update.id,
                     channel=channel.name, target=delivery.target, error_code=code, message=skip_reason)
    session.add(delivery)
    return delivery


class RenderFailed(Exception):
    """The retraction is committed, but the public files could not be written again; the message says why."""


def retract(session: Session, update_id: int, reason: str, actor: str, rerender: Callable[[], object]) -> Update:
    """Withdraw an update (and its story) from every current public view; CAP readers get a Cancel.

    RenderFailed when the retraction is stored but `rerender` could not write the public files."""
    update = session.get(Update, update_id)
    if update is None:
        raise ValidationError({"update": "No such update."})
    if update.retracted_at is not None:
        raise ValidationError({"update": "This update was already retracted."})
    reason = " ".join(clean(reason).split())
    if not reason:
        raise ValidationError({"reason": "Say why it is retracted; the public page and the CAP Cancel show it."})
    if too_long("reason", reason, REASON_MAX):
        raise ValidationError({"reason": too_long("reason", reason, REASON_MAX) + " Nothing was retracted."})
    update.retracted_at, update.retraction_reason = utcnow(), reason
    audit.record(session, actor=actor, action="retract", outcome="ok", update_id=update.id, message=reason)
    retraction.stop_unsent(session, update, actor)
    retraction.take_down(session, update)
    session.commit()
    try:
        rerender()
    except Exception as exc:  # noqa: BLE001 - committed: staff must hear that the public site lags, not see a 500
        raise RenderFailed(f"{type(exc).__name__}: {exc}") from exc
    return update


def slugify(text: str) -> str:
    """"Tormenta: inundación río" → "tormenta-inundacion-rio": accents dropped, not the letters they sit on."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return (re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "incident")[:120]


def retry_delivery(session: Session, delivery_id: int, actor: str, enqueue: Callable[[int, str], None]) -> Delivery:
    """Send a failed or partly failed delivery again: for SMS, only to the recipients that failed."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.state not in DeliveryState.RETRYABLE:
        raise ValidationError({"delivery": "Only a failed delivery can be retried."})
    if "." not in delivery.channel and queries.story_withdrawn(session, delivery.update_id):
        raise ValidationError({"delivery": "This update was retracted: it is not sent again."})
    if delivery.channel in SMS_DELIVERIES:
        session.execute(SmsRecipient.__table__.update()
                        .where(SmsRecipient.delivery_id == delivery.id, SmsRecipient.state == RecipientState.FAILED)
                        .values(state=RecipientState.PENDING, attempts=0, updated_at=utcnow()))
    delivery.state, delivery.attempts, delivery.finished_at = DeliveryState.PENDING, 0, None
    delivery.next_attempt_at = None
    audit.record(session, actor=actor, action="retry", outcome="ok", update_id=delivery.update_id,
                 channel=delivery.channel, target=delivery.target,
                 message=f"retry requested after: {delivery.error_message or delivery.state}")
    session.commit()
    enqueue(delivery.id, delivery.channel)
    return delivery
