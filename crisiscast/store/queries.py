"""Lookups by public identifier, shared by the console, the public pages and the services."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.store.models import Incident, Update


def update_by_uid(session: Session, uid: str) -> Update | None:
    """The update whose public identifier is `uid`, or None."""
    return session.scalar(select(Update).where(Update.uid == uid))


def incident_by_slug(session: Session, slug: str) -> Incident | None:
    """The incident whose public slug is `slug`, or None."""
    return session.scalar(select(Incident).where(Incident.slug == slug))
