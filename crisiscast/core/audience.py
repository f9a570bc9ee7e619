"""Who an update is for: the public, or staff only. Pure: decided from its channels and its lists' flags.

An update is public when any of its channels reaches the public: the feed, X, Facebook, Bluesky, Mastodon, or
SMS to a list marked public. Otherwise it is internal, and never appears in any public file, feed, CAP alert or HAVE.
An exercise (a drill) is a third audience: like an internal update it is never public, whatever its channels.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

PUBLIC = "public"
INTERNAL = "internal"
EXERCISE = "exercise"
AUDIENCES = (PUBLIC, INTERNAL, EXERCISE)
# Channels whose every reader is the public; SMS depends on the lists it goes to.
PUBLIC_CHANNELS = frozenset({"feed", "x", "facebook"}) | {"bluesky"} | {"mastodon"}
INTERNAL_NOTICE = "Internal: staff only — it will not appear on the public site or feeds."
EXERCISE_NOTICE = ("Exercise (drill): every rendering starts with “EXERCISE —”; it will not appear on the public site "
                   "or feeds, and texts go only to lists that are not public.")


def audience(channels: Iterable[str], lists: Iterable[str], public_lists: Mapping[str, bool],
             exercise: bool = False) -> str:
    """EXERCISE for a drill; else PUBLIC if a channel, or SMS to a list flagged public in `public_lists`, reaches
    the public; else INTERNAL.

    A list missing from `public_lists` counts as internal: an unknown list must not make an update public.
    """
    if exercise:
        return EXERCISE
    channels = set(channels)
    if channels & PUBLIC_CHANNELS:
        return PUBLIC
    if "sms" in channels and any(public_lists.get(name, False) for name in lists):
        return PUBLIC
    return INTERNAL


def is_public(value: str | None) -> bool:
    """True only for the public audience: anything else (internal, unknown, missing) stays off the public site."""
    return value == PUBLIC
