"""Texts about approval to staff phones, through the staff-texts outbox (once per request and number): a new
request to the approvers, with the link that opens it; a break-glass publish, so they know at once."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.services import staff_texts
from crisiscast.services.approval import can_approve
from crisiscast.store.models import ApprovalRequest, User


def approvers(session: Session) -> list[User]:
    """Every active approver."""
    return [u for u in session.scalars(select(User).where(User.can_approve.is_(True)).order_by(User.username))
            if can_approve(u)]


def numbers(session: Session, settings, author_id: int) -> list[str]:
    """Who is texted: APPROVAL_NOTIFY_LIST's members when set, else each approver's own phone but the author's."""
    if settings.APPROVAL_NOTIFY_LIST:
        return staff_texts.list_numbers(session, settings.APPROVAL_NOTIFY_LIST)
    return staff_texts.user_numbers(session, [u.id for u in approvers(session) if u.id != author_id])


def ask(session: Session, settings, request: ApprovalRequest) -> list[int]:
    """Queue "approval needed" with the request's link to each approver once; the ids to hand to the job."""
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/approvals/{request.id}"
    text = (f"{settings.ORG_NAME}: approval needed for “{request.headline}” by {request.author.username}. "
            f"Open: {link}")
    return _queue(session, settings, request, "approval", text)


def break_glass(session: Session, settings, request: ApprovalRequest) -> list[int]:
    """Queue "published without approval" with the reason and the update's link to each approver once."""
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/updates/{request.update_id}"
    text = (f"{settings.ORG_NAME}: “{request.headline}” was PUBLISHED WITHOUT APPROVAL by "
            f"{request.author.username}: {request.reason} {link}")
    return _queue(session, settings, request, "break_glass", text)


def _queue(session: Session, settings, request: ApprovalRequest, kind: str, text: str) -> list[int]:
    """One text per number under "<kind>:<request id>", committed; asked again, nobody is texted twice."""
    ids = staff_texts.request(session, f"{kind}:{request.id}", numbers(session, settings, request.author_id), text,
                              kind=kind)
    session.commit()
    return ids
