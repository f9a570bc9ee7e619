"""The figures the compose form counts while the author types: headline length, SMS segments, X's weight,
Bluesky's graphemes, Mastodon's length.

They come from the rendering the preview and the send use, so the live counters never disagree with them.
Both are counted on the whole text, before any shortening: that is what the author would have to cut.
"""
from __future__ import annotations

from dataclasses import replace

from crisiscast.core.domain import HEADLINE_MAX, Draft
from crisiscast.core.rendering import RenderContext, promise_line, render_sms, status_line
from crisiscast.core.textlimits import X_MAX_WEIGHT, x_weight
from crisiscast.core.textlimits import BLUESKY_MAX_GRAPHEMES, graphemes
from crisiscast.core.textlimits import mastodon_length

UNBOUNDED = 10 ** 6


def live_counts(draft: Draft, ctx: RenderContext) -> dict:
    """Headline characters, SMS segments, X weighted and Mastodon length of `draft` as it stands (blanks allowed)."""
    sms = render_sms(draft, replace(ctx, sms_max_segments=UNBOUNDED))
    x_text = "\n".join(p for p in (ctx.marker + draft.headline, status_line(draft), draft.body,
                                    promise_line(draft, ctx)) if p)
    counts = {"headline": len(draft.headline), "headline_max": HEADLINE_MAX,
              "sms_segments": sms.stats["segments"], "sms_max_segments": ctx.sms_max_segments,
              "x_weight": x_weight(x_text), "x_max": X_MAX_WEIGHT}
    # A Bluesky post always ends with the update's link (a clickable facet and a card), so it counts too.
    counts.update(bluesky_graphemes=graphemes("\n".join(p for p in (x_text, ctx.link) if p)),
                  bluesky_max=BLUESKY_MAX_GRAPHEMES)
    counts.update(mastodon_length=mastodon_length("\n".join(p for p in (x_text, ctx.link) if p)),
                  mastodon_max=ctx.mastodon_max)
    return counts
