"""Console sessions kept server-side: started at sign-in, ended by sign-out, account changes or time."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crisiscast.store.models import User, UserSession, utcnow

# last_seen_at is written at most this often, so a busy console page costs no write per request; the idle
# timeout is hours, so a minute's slack does not matter.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    """How long a session lives: `idle` since its last request, `absolute` since sign-in."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings) -> Lifetime:
        """The lifetime SESSION_IDLE_HOURS and SESSION_MAX_HOURS set."""
        return cls(idle=timedelta(hours=settings.SESSION_IDLE_HOURS),
                   absolute=timedelta(hours=settings.SESSION_MAX_HOURS))


def start(session: Session, user: User) -> str:
    """A new session for `user`; returns its token, which only the cookie keeps."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(UserSession(user_id=user.id, token_hash=_digest(token), created_at=now, last_seen_at=now))
    session.commit()
    return token


def resume(session: Session, token: str, lifetime: Lifetime, now: datetime | None = None) -> User | None:
    """The active user whose live session `token` names, or None; an expired session is deleted."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token))) if token else None
    if row is None:
        return None
    now = now or utcnow()
    if not row.user.active or now - row.last_seen_at > lifetime.idle or now - row.created_at > lifetime.absolute:
        session.delete(row)
        session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return row.user


def end(session: Session, token: str) -> None:
    """End the one session `token` names (sign-out)."""
    session.execute(delete(UserSession).where(UserSession.token_hash == _digest(token)))
    session.commit()


def end_all(session: Session, user_id: int) -> int:
    """End every session of `user_id` in the caller's transaction (it commits); returns how many there were."""
    return session.execute(delete(UserSession).where(UserSession.user_id == user_id)).rowcount


def count(session: Session, user_id: int) -> int:
    """How many sessions `user_id` has open (expired ones included until they are next presented)."""
    return session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id))


def _digest(token: str) -> str:
    # Only a hash is stored: a copy of the table (a backup, a read-only leak) signs nobody in.
    return hashlib.sha256(token.encode()).hexdigest()
