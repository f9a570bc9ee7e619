"""Render one draft for each channel, within that channel's limits.

The console's preview and the workers' sends both use what this module returns:
the rendering is stored with the delivery at publish time and sent as stored.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from crisiscast.core import promise
from crisiscast.core.audience import PUBLIC
from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.textlimits import X_MAX_WEIGHT, count_sms, x_weight
from crisiscast.core.textlimits import BLUESKY_MAX_BYTES, BLUESKY_MAX_GRAPHEMES, graphemes
from crisiscast.core.textlimits import MASTODON_DEFAULT_MAX, mastodon_length

FACEBOOK_MAX = 63206
# Typographic characters that would force a whole SMS into UCS-2 (70 instead of 160 per part) for no gain,
# replaced as Twilio's Smart Encoding does. Anything else outside GSM-7 (emoji, other scripts) is kept.
SMART_ENCODING = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
                                "…": "...", "\u00a0": " ", "\u2009": " ", "•": "-"})
# What every rendering of an exercise (a drill) starts with; an SMS carries it smart-encoded ("EXERCISE - "),
# since the dash alone would force the whole text into UCS-2.
EXERCISE_MARKER = "EXERCISE — "


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs besides the draft: who speaks, the update's link, the SMS budget."""

    org_name: str
    link: str
    sms_max_segments: int = 3
    # When X would see the post as a repeat of a recent one, the headline carries “(2)”, “(3)”…
    x_repeat: int = 0
    # The hospital's zone and the moment of rendering: the promised next update reads "by 02:30 CST", with the
    # weekday when it is not today there.
    zone: str = "UTC"
    now: datetime | None = None
    # The Mastodon instance's own status length (its configuration says; 500 when it does not).
    mastodon_max: int = MASTODON_DEFAULT_MAX
    # A drill: every rendering starts with EXERCISE_MARKER, and the limits count it.
    exercise: bool = False

    @property
    def marker(self) -> str:
        """EXERCISE_MARKER for an exercise, else nothing."""
        return EXERCISE_MARKER if self.exercise else ""


@dataclass(frozen=True)
class Rendering:
    """The exact text one channel will carry, and the figures the preview shows."""

    channel: str
    text: str
    title: str = ""
    link: str = ""
    shortened: bool = False
    stats: dict = field(default_factory=dict)
    description: str = ""  # a link card's description (Bluesky), beside `title`

    def to_dict(self) -> dict:
        return asdict(self)


def fingerprint(renderings: dict[str, Rendering], lists, audience: str = PUBLIC) -> str:
    """A digest of exactly what would be sent, to whom, and whether it goes public, so publish can tell the
    preview is current (a list's public flag changed since the preview changes the digest)."""
    payload = json.dumps({"lists": sorted(lists), "audience": audience,
                          **{k: v.to_dict() for k, v in sorted(renderings.items())}}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def render_all(draft: Draft, ctx: RenderContext, channels=None) -> dict[str, Rendering]:
    """Render `draft` for each channel; raise ValidationError naming every channel it cannot fit."""
    renderers = {"sms": render_sms, "x": render_x, "facebook": render_facebook, "feed": render_feed}
    renderers["bluesky"] = render_bluesky
    renderers["mastodon"] = render_mastodon
    results, errors = {}, {}
    for channel in channels if channels is not None else draft.channels:
        try:
            results[channel] = renderers[channel](draft, ctx)
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    return results


def status_line(draft: Draft) -> str:
    return f"ER: {draft.er_label}. Hospital: {draft.status_label}."


def promise_line(draft: Draft, ctx: RenderContext) -> str:
    """"Next update by 02:30 CST.", "No further updates planned." or "": never cut, like the statuses."""
    at = draft.next_update_at
    return promise.line(at, draft.no_further_updates, ZoneInfo(ctx.zone), ctx.now or at)


def render_sms(draft: Draft, ctx: RenderContext) -> Rendering:
    """The SMS: org, headline, statuses, text; shortened with a link past the segment budget."""

    promised = promise_line(draft, ctx)

    def compose(body: str, link: str) -> str:
        parts = [f"{ctx.marker}{ctx.org_name}: {draft.headline}", status_line(draft)]
        parts += [p for p in (body, promised, link and f"More: {link}") if p]
        return "\n".join(parts).translate(SMART_ENCODING)

    def fits(text: str) -> bool:
        return count_sms(text).segments <= ctx.sms_max_segments

    text, shortened = _fit(draft.body, ctx.link, compose, fits, ellipsis="...")
    if text is None:
        raise ValidationError({"sms": (
            f"The headline and statuses alone need more than {ctx.sms_max_segments} SMS segments; "
            "shorten the headline."
        )})
    count = count_sms(text)
    stats = {
        "characters": count.units, "segments": count.segments, "encoding": count.encoding,
        "unicode_chars": "".join(count.unicode_chars), "max_segments": ctx.sms_max_segments,
    }
    return Rendering("sms", text, link=ctx.link if shortened else "", shortened=shortened, stats=stats)


def render_x(draft: Draft, ctx: RenderContext) -> Rendering:
    """The X post, within 280 weighted characters; shortened with a link when it has to be."""

    headline = ctx.marker + (f"{draft.headline} ({ctx.x_repeat})" if ctx.x_repeat > 1 else draft.headline)
    promised = promise_line(draft, ctx)

    def compose(body: str, link: str) -> str:
        return "\n".join(p for p in (headline, status_line(draft), body, promised, link) if p)

    def fits(text: str) -> bool:
        return x_weight(text) <= X_MAX_WEIGHT

    text, shortened = _fit(draft.body, ctx.link, compose, fits, ellipsis="…")
    if text is None:
        over = x_weight(compose("", ctx.link))
        raise ValidationError({"x": (
            f"The headline and statuses with the link need {over} of X's {X_MAX_WEIGHT} characters; "
            "shorten the headline."
        )})
    stats = {"characters": x_weight(text), "max_characters": X_MAX_WEIGHT}
    return Rendering("x", text, link=ctx.link if shortened else "", shortened=shortened, stats=stats)


def render_facebook(draft: Draft, ctx: RenderContext) -> Rendering:
    """The Page post: the whole update, with the link to its public page attached."""
    text = "\n\n".join(p for p in (ctx.marker + draft.headline, status_line(draft), draft.body,
                                  promise_line(draft, ctx)) if p)
    if len(text) > FACEBOOK_MAX:
        raise ValidationError({"facebook": f"The post is {len(text)} characters; Facebook allows {FACEBOOK_MAX}."})
    return Rendering("facebook", text, link=ctx.link, stats={"characters": len(text)})


def render_bluesky(draft: Draft, ctx: RenderContext) -> Rendering:
    """The Bluesky post within 300 graphemes and 3,000 bytes, ending with the update's link (made clickable by a
    link facet when sent, and shown as a card titled with the headline); shortened at a word when it has to be."""
    promised = promise_line(draft, ctx)

    def compose(body: str, _link: str) -> str:
        return "\n".join(p for p in (ctx.marker + draft.headline, status_line(draft), body, promised, ctx.link) if p)

    def fits(text: str) -> bool:
        return graphemes(text) <= BLUESKY_MAX_GRAPHEMES and len(text.encode()) <= BLUESKY_MAX_BYTES

    text, shortened = _fit(draft.body, ctx.link, compose, fits, ellipsis="…")
    if text is None:
        over = graphemes(compose("", ""))
        raise ValidationError({"bluesky": (
            f"The headline and statuses with the link need {over} of Bluesky's {BLUESKY_MAX_GRAPHEMES} characters; "
            "shorten the headline."
        )})
    card = " ".join(p for p in (status_line(draft), promised) if p)
    stats = {"graphemes": graphemes(text), "max_graphemes": BLUESKY_MAX_GRAPHEMES, "bytes": len(text.encode())}
    return Rendering("bluesky", text, title=draft.headline if ctx.link else "", link=ctx.link, shortened=shortened,
                     stats=stats, description=card if ctx.link else "")


def render_mastodon(draft: Draft, ctx: RenderContext) -> Rendering:
    """The Mastodon status, within the instance's limit; it always ends with the update's link, which Mastodon
    counts as 23 characters and shows as a card."""
    promised = promise_line(draft, ctx)

    def compose(body: str, _link: str) -> str:
        return "\n".join(p for p in (ctx.marker + draft.headline, status_line(draft), body, promised, ctx.link) if p)

    def fits(text: str) -> bool:
        return mastodon_length(text) <= ctx.mastodon_max

    text, shortened = _fit(draft.body, ctx.link, compose, fits, ellipsis="…")
    if text is None:
        over = mastodon_length(compose("", ctx.link))
        raise ValidationError({"mastodon": (
            f"The headline and statuses with the link need {over} of this Mastodon instance's {ctx.mastodon_max} "
            "characters; shorten the headline."
        )})
    stats = {"characters": mastodon_length(text), "max_characters": ctx.mastodon_max}
    return Rendering("mastodon", text, link=ctx.link, shortened=shortened, stats=stats)


def render_retraction_sms(org_name: str, headline: str, reason: str, max_segments: int,
                          exercise: bool = False) -> Rendering:
    """The text that tells those who got an update that it was withdrawn, within `max_segments`."""
    marker = EXERCISE_MARKER if exercise else ""

    def compose(cut: int) -> str:
        quoted = headline if cut >= len(headline) else headline[:max(cut, 0)].rstrip() + "..."
        return (f"{marker}{org_name}: please disregard our earlier message \"{quoted}\": it was withdrawn. "
                f"{reason}").strip().translate(SMART_ENCODING)

    cut = len(headline)
    text = compose(cut)
    while count_sms(text).segments > max_segments and cut > 0:
        cut -= 10
        text = compose(cut)
    count = count_sms(text)
    return Rendering("sms", text, stats={"characters": count.units, "segments": count.segments,
                                         "encoding": count.encoding, "max_segments": max_segments})


def render_feed(draft: Draft, ctx: RenderContext) -> Rendering:
    """The feed entry: the headline as title, statuses and text as content."""
    text = "\n\n".join(p for p in (status_line(draft), draft.body, promise_line(draft, ctx)) if p)
    return Rendering("feed", text, title=ctx.marker + draft.headline, link=ctx.link, stats={"characters": len(text)})


def _fit(body: str, link: str, compose: Callable[[str, str], str], fits: Callable[[str], bool],
         ellipsis: str) -> tuple[str | None, bool]:
    """The full text if it fits; else the longest word-boundary cut of the body, with the link; else None."""
    full = compose(body, "")
    if fits(full):
        return full, False
    if not fits(compose("", link)):
        return None, True
    words = body.split(" ")
    lo, hi = 0, len(words)  # the largest count of words that fits lies in [lo, hi)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        cut = " ".join(words[:mid]).rstrip() + ellipsis
        if fits(compose(cut, link)):
            lo = mid
        else:
            hi = mid - 1
    cut = " ".join(words[:lo]).rstrip()
    return compose(cut + ellipsis if cut else "", link), True
