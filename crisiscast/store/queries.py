"""Lookups by public identifier, shared by the console, the public pages and the services, and the
condition that keeps internal updates (and incidents with only those) out of every public view."""
from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from crisiscast.core.audience import PUBLIC
from crisiscast.store.models import Incident, Update


def update_by_uid(session: Session, uid: str) -> Update | None:
    """The update whose public identifier is `uid`, or None."""
    return session.scalar(select(Update).where(Update.uid == uid))


def is_public():
    """The condition every public view applies to updates: published to the public (crisiscast.core.audience)."""
    return Update.audience == PUBLIC


def has_public_update():
    """The condition on an incident: a public update belongs to it (else even its title is internal)."""
    return exists().where(Update.incident_id == Incident.id, is_public())


def public_update_by_uid(session: Session, uid: str) -> Update | None:
    """The public update whose identifier is `uid`, or None: an internal update has no public page."""
    return session.scalar(select(Update).where(Update.uid == uid, is_public()))


def public_incident_by_slug(session: Session, slug: str) -> Incident | None:
    """The incident whose slug is `slug` if the public may know of it, or None."""
    return session.scalar(select(Incident).where(Incident.slug == slug, has_public_update()))


def story_withdrawn(session: Session, update_id: int) -> bool:
    """True when any version of update `update_id`'s story was retracted: none of its posts or texts may go out."""
    key = select(func.coalesce(Update.story_uid, Update.uid)).where(Update.id == update_id).scalar_subquery()
    return bool(session.scalar(select(exists().where(func.coalesce(Update.story_uid, Update.uid) == key,
                                                     Update.retracted_at.is_not(None)))))
