"""Two-person approval: a draft waits as a request (never an update, so nothing of it is public) until a second
person approves it, rejects it with a reason, or, past the timeout, its author publishes it with a reason.

Each decision claims the request with one conditional UPDATE (still pending), in the same transaction as the
publish it leads to: a double tap or two approvers at once publish once, and a failed publish decides nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crisiscast.core import placeholders, promise
from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.fields import too_long
from crisiscast.core.rendering import fingerprint
from crisiscast.core.text import clean
from crisiscast.services import publishing, templates
from crisiscast.store import audit
from crisiscast.store.models import ApprovalRequest, User, utcnow

PENDING, APPROVED, REJECTED, WITHDRAWN, BREAK_GLASS = "pending", "approved", "rejected", "withdrawn", "break_glass"
REASON_MAX = 500  # approval_requests.reason, updates.release_reason
# The compose form's fields a request keeps (the form's own controls, its token and digest, are not kept).
KEPT = ("uid", "incident", "er_access", "operating_status", "headline", "body", "next_at", "no_further_updates",
        "next_update", "corrects", "template", "keep_earlier", "exercise", "channels", "lists")


class Refused(Exception):
    """The decision cannot be made (decided already, one's own request, too early); the message says why."""


class Changed(Exception):
    """What would go out now differs from what the deciding person saw: they must look again."""

    def __init__(self, prepared: "Prepared"):
        super().__init__("What would go out changed since this page was opened: check it again, then decide.")
        self.prepared = prepared


@dataclass(frozen=True)
class Prepared:
    """A request's values rendered now, exactly as publish would: the draft, what each channel carries, the hash."""

    draft: Draft
    checked: publishing.Checked
    digest: str


@dataclass(frozen=True)
class Decision:
    """Who decides, when, the hash of what they saw (approve, break-glass) and their reason (reject, break-glass)."""

    by: User
    now: datetime
    seen: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Sending:
    """What publishing needs from the caller: settings, channels and the queue."""

    settings: object
    channels: dict
    enqueue: Callable[[int, str], None]


def kept_values(values: dict) -> dict:
    """The compose form's values worth keeping with a request: the draft's fields and its placeholder values."""
    kept = {k: values[k] for k in KEPT if k in values}
    kept.update({k: str(v)[:200] for k, v in values.items() if k.startswith("ph_") and isinstance(v, str)})
    return kept


def prepare(session: Session, values: dict, settings, uid: str, channels=None, now: datetime | None = None) -> Prepared:
    """Render `values` as publish would at `now` (the promised time read in the hospital's zone, each channel to
    the limits its provider gave); ValidationError when they can no longer be published as they are."""
    filled = placeholders.fill_form(values, placeholders.values_from(values))
    if placeholders.in_fields(filled):
        raise ValidationError(placeholders.unfilled(filled))
    draft = Draft.from_form(filled, promise.Clock.of(settings.TIMEZONE, now or utcnow()))
    checked = publishing.check(session, draft, settings, uid, channels)
    return Prepared(draft, checked, fingerprint(checked.renderings, draft.lists, checked.audience))


def can_approve(user: User | None) -> bool:
    """True for an active author or admin whom an admin made an approver."""
    return bool(user and user.active and user.can_approve and user.role in ("author", "admin"))


def ask(session: Session, author: User, values: dict, prepared: Prepared, warnings: list[str],
        now: datetime) -> tuple[ApprovalRequest, bool]:
    """The pending request for this form: the same one for a resubmission of it, a new one (the earlier
    withdrawn) when the author changed it. Returns (request, whether it is new: approvers are to be told)."""
    uid = values["uid"]
    current = session.scalar(select(ApprovalRequest).where(ApprovalRequest.uid == uid,
                                                           ApprovalRequest.state == PENDING))
    if current is not None and current.content_hash == prepared.digest:
        return current, False
    if current is not None:
        _claim(session, current, WITHDRAWN, Decision(author, now, reason="changed by its author; a new request "
                                                                        "replaces it"))
        audit.record(session, actor=author.username, action="approval_withdrawn", outcome="ok",
                     message=f"#{current.id} “{current.headline}”: changed after the request")
    made = ApprovalRequest(uid=uid, values=kept_values(values), author_id=author.id, warnings=list(warnings),
                           content_hash=prepared.digest, headline=prepared.draft.headline, requested_at=now,
                           state=PENDING, reason="", author_seen=False)
    session.add(made)
    session.flush()
    audit.record(session, actor=author.username, action="approval_requested", outcome="ok",
                 message=f"#{made.id} “{made.headline}”" + (f"; warnings acknowledged: {'; '.join(warnings)}"
                                                            if warnings else ""))
    session.commit()
    return made, True


def approve(session: Session, request_id: int, decision: Decision, sending: Sending) -> publishing.Published:
    """Publish the request as its author wrote it, once, if the approver may and saw what goes out now."""
    request = _pending(session, request_id)
    _may_decide(request, decision.by, "approve")
    prepared = _current(session, request, sending, decision)
    _claim(session, request, APPROVED, decision)
    note = f"request #{request.id} “{request.headline}” by {request.author.username}"
    release = publishing.Release(APPROVED, decision.by, decision.now, actor=decision.by.username, note=note)
    return _publish(session, request, prepared, sending, release)


def reject(session: Session, request_id: int, decision: Decision) -> ApprovalRequest:
    """Return the request to its author with the reason (required); nothing is sent."""
    request = _pending(session, request_id)
    _may_decide(request, decision.by, "reject")
    reason = _reason(decision.reason, "Say why, so the author knows what to change.")
    _claim(session, request, REJECTED, replace(decision, reason=reason))
    audit.record(session, actor=decision.by.username, action="reject", outcome="ok",
                 message=f"#{request.id} “{request.headline}” by {request.author.username}: {reason}")
    session.commit()
    return request


def _may_decide(request: ApprovalRequest, user: User, verb: str) -> None:
    if not can_approve(user):
        raise Refused(f"Only an approver can {verb}; an admin makes you one on the Users page.")
    if request.author_id == user.id:
        raise Refused("You asked for this one: another approver must decide it.")


def withdraw(session: Session, request_id: int, decision: Decision) -> ApprovalRequest:
    """The author takes the request back before anyone decides; nothing is sent."""
    request = _pending(session, request_id)
    if request.author_id != decision.by.id:
        raise Refused("Only the author who asked can withdraw it.")
    _claim(session, request, WITHDRAWN, replace(decision, reason="taken back by its author"))
    audit.record(session, actor=decision.by.username, action="approval_withdrawn", outcome="ok",
                 message=f"request #{request.id} “{request.headline}”: taken back")
    session.commit()
    return request


def glass_opens(request: ApprovalRequest, settings) -> datetime:
    """When the author may publish without approval, if nobody has decided by then."""
    return request.requested_at + timedelta(minutes=settings.APPROVAL_TIMEOUT_MINUTES)


def break_glass(session: Session, request_id: int, decision: Decision, sending: Sending) -> publishing.Published:
    """The author publishes without approval, past the timeout, with a written reason; audited loudly."""
    request = _pending(session, request_id)
    if request.author_id != decision.by.id:
        raise Refused("Only the author who asked can publish it without approval.")
    opens = glass_opens(request, sending.settings)
    if decision.now < opens:
        raise Refused(f"Approvers have until {opens:%H:%M:%S} UTC to decide; publishing without approval is "
                      "possible from then.")
    reason = _reason(decision.reason, "Say why it cannot wait for approval; the audit log keeps it.")
    prepared = _current(session, request, sending, decision)
    timeout = opens - request.requested_at
    _claim(session, request, BREAK_GLASS, replace(decision, reason=reason), asked_by=decision.now - timeout)
    note = (f"PUBLISHED WITHOUT APPROVAL: request #{request.id} “{request.headline}”, nobody decided within "
            f"{sending.settings.APPROVAL_TIMEOUT_MINUTES:g} min. Reason: {reason}")
    release = publishing.Release(BREAK_GLASS, None, decision.now, reason, actor=decision.by.username, note=note)
    return _publish(session, request, prepared, sending, release)










def _pending(session: Session, request_id: int) -> ApprovalRequest:
    request = session.get(ApprovalRequest, request_id)
    if request is None:
        raise Refused("No such request.")
    if request.state != PENDING:
        raise Refused(decided_text(request))
    return request


def decided_text(request: ApprovalRequest) -> str:
    """'Approved by jane at 14:02 UTC.' and the like."""
    who = request.decided_by.username if request.decided_by else "someone"
    at = f"{request.decided_at:%H:%M:%S} UTC" if request.decided_at else ""
    words = {APPROVED: f"Already approved by {who} at {at}: it was published once.",
             REJECTED: f"Rejected by {who} at {at}: {request.reason}",
             WITHDRAWN: f"Withdrawn by {who} at {at}: {request.reason}.",
             BREAK_GLASS: f"Published without approval by {who} at {at}: {request.reason}"}
    return words.get(request.state, f"Already decided ({request.state}).")


def _current(session: Session, request: ApprovalRequest, sending: Sending, decision: Decision) -> Prepared:
    seen = decision.seen
    try:
        prepared = prepare(session, request.values, sending.settings, request.uid, sending.channels, decision.now)
    except ValidationError as exc:
        raise Refused("It can no longer be published as it is (" + " ".join(exc.errors.values()) +
                      "). Reject it so the author can fix it.") from None
    if prepared.digest != seen:
        raise Changed(prepared)
    return prepared


def _claim(session: Session, request: ApprovalRequest, state: str, decision: Decision,
           asked_by: datetime | None = None) -> None:
    """Move the request out of pending in the caller's transaction; Refused when someone else did first.

    `asked_by`: claim it only if it was asked by then (break-glass: the timeout is checked by the database too)."""
    condition = [ApprovalRequest.id == request.id, ApprovalRequest.state == PENDING]
    if asked_by is not None:
        condition.append(ApprovalRequest.requested_at <= asked_by)
    claimed = session.execute(update(ApprovalRequest).where(*condition).values(
        state=state, decided_by_id=decision.by.id, decided_at=decision.now, reason=decision.reason,
    ).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        session.rollback()
        session.refresh(request)
        raise Refused(decided_text(request))
    session.refresh(request)


def _publish(session: Session, request: ApprovalRequest, prepared: Prepared, sending: Sending,
             release: publishing.Release) -> publishing.Published:
    """Publish with the original author; the claim and the update commit together or not at all."""
    try:
        result = publishing.publish(session, prepared.draft, uid=request.uid, author=request.author,
                                    settings=sending.settings, channels=sending.channels, enqueue=sending.enqueue,
                                    release=release)
    except Exception:
        session.rollback()
        raise
    if not result.created:  # published before (the same form went out directly): nothing more is sent
        session.commit()
    request.update_id = result.update.id
    if result.created:
        templates.record_use(session, result.update, str(request.values.get("template", "")))
    if request.warnings:
        audit.record(session, actor=request.author.username, action="guard_acknowledged", outcome="ok",
                     update_id=result.update.id, message="; ".join(request.warnings)[:2000])
    session.commit()
    return result


def _reason(reason: str, missing: str) -> str:
    reason = " ".join(clean(reason).split())
    if not reason:
        raise ValidationError({"reason": missing})
    if too_long("reason", reason, REASON_MAX):
        raise ValidationError({"reason": too_long("reason", reason, REASON_MAX) + " Nothing was decided."})
    return reason
