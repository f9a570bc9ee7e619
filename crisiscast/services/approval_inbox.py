"""What waits for whom: the requests an approver may decide, the decisions an author has not seen yet."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.services.approval import APPROVED, PENDING, REJECTED
from crisiscast.store.models import ApprovalRequest, User


def pending_count(session: Session, approver: User) -> int:
    """Requests waiting for `approver` (their own are not theirs to decide)."""
    return session.scalar(select(func.count()).select_from(ApprovalRequest).where(
        ApprovalRequest.state == PENDING, ApprovalRequest.author_id != approver.id)) or 0


def unseen_decisions(session: Session, author: User) -> list[ApprovalRequest]:
    """The author's requests decided since they last looked."""
    return list(session.scalars(select(ApprovalRequest).where(
        ApprovalRequest.author_id == author.id, ApprovalRequest.state.in_((APPROVED, REJECTED)),
        ApprovalRequest.author_seen.is_(False)).order_by(ApprovalRequest.id)))


def listing(session: Session, limit: int = 50) -> list[ApprovalRequest]:
    """Pending requests first, then the latest decided ones."""
    rows = session.scalars(select(ApprovalRequest).order_by((ApprovalRequest.state != PENDING),
                                                            ApprovalRequest.id.desc()).limit(limit))
    return list(rows)


def seen_by(session: Session, request: ApprovalRequest, user: User) -> None:
    """The author opened their decided request: it leaves their banner."""
    if user.id == request.author_id and request.state in (APPROVED, REJECTED) and not request.author_seen:
        request.author_seen = True
        session.commit()
