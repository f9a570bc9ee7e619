"""Exercises (drills): which updates are one, where they may go, and which channels sit them out.

An exercise goes through the same pipeline as any update, with audience EXERCISE (never public): by SMS only to
lists that are not public, to X, Facebook, Bluesky and Mastodon only with EXERCISE_SOCIAL=on, never to the public feed.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.core.audience import PUBLIC_CHANNELS
from crisiscast.core.domain import CHANNEL_LABELS, Draft, ValidationError
from crisiscast.services import subscribers
from crisiscast.store.models import Update

CODE = "exercise"
# Every channel whose readers are the public, but the feed: X, Facebook, Bluesky, Mastodon, any added later.
SOCIAL = PUBLIC_CHANNELS - {"feed"}


def is_exercise(session: Session, draft: Draft) -> bool:
    """True when the draft is marked Exercise, or corrects an update that was one (a drill stays a drill)."""
    if draft.exercise:
        return True
    if not draft.corrects:
        return False
    return bool(session.scalar(select(Update.exercise).where(Update.uid == draft.corrects)))


def check(session: Session, draft: Draft) -> None:
    """Refuse an exercise that would reach the public: an SMS to a public list, or a correction of a real update
    (its post would be replied to or edited, and its story changed, by a drill)."""
    if draft.corrects:
        real = session.scalar(select(Update.id).where(Update.uid == draft.corrects, Update.exercise.is_(False)))
        if real is not None:
            raise ValidationError({"exercise": "An exercise cannot correct a real update; untick Exercise, or "
                                               "publish the drill as a new update."})
    if "sms" not in draft.channels:
        return
    flags = subscribers.public_flags(session)
    public = [name for name in draft.lists if flags.get(name, False)]
    if public:
        raise ValidationError({"lists": (
            f"An exercise is texted only to lists that are not public (such as drill); untick {', '.join(public)}.")})


def skipped(channels, settings) -> dict[str, str]:
    """The channels an exercise does not use, each with the reason its delivery shows."""
    reasons = {}
    for name in channels:
        if name == "feed":
            reasons[name] = "Exercise: the public feed is never used for a drill."
        elif name in SOCIAL and settings.EXERCISE_SOCIAL != "on":
            reasons[name] = f"Exercise: {CHANNEL_LABELS[name]} is not used for drills (EXERCISE_SOCIAL=off)."
    return reasons
