"""What the preview checks beyond validity: the guard warnings, and X posts that would repeat a recent one."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.core import guards, phi
from crisiscast.core.domain import Draft
from crisiscast.core.rendering import RenderContext, Rendering, render_x
from crisiscast.store import audit
from crisiscast.store.models import Delivery, Update, utcnow

# X refuses a post identical to one of the account's recent posts (403, duplicate content). We look back further
# than X is known to, since a repeat costs only a few characters.
X_REPEAT_WINDOW = timedelta(days=7)


def warnings(draft: Draft, settings) -> list[guards.Warning]:
    """The guard warnings for `draft`, with the hospital's own published contacts allowed."""
    allowed = phi.Allowed.parse(settings.PHI_ALLOWED_CONTACTS.split(","), settings.SMS_DEFAULT_REGION)
    return guards.review(draft, allowed)


def distinct_x(session: Session, draft: Draft, ctx: RenderContext, rendering: Rendering) -> Rendering:
    """`rendering`, or the same post numbered “(2)”, “(3)”… when X would see it as a repeat of a recent post."""
    since = utcnow() - X_REPEAT_WINDOW
    recent = {(d.rendering or {}).get("text") for d in session.scalars(
        select(Delivery).where(Delivery.channel == "x", Delivery.created_at >= since))}
    repeat = 1
    while rendering.text in recent:
        repeat += 1
        rendering = render_x(draft, replace(ctx, x_repeat=repeat))
    return rendering


def record_acknowledgement(session: Session, update: Update, found: list[guards.Warning], actor: str) -> None:
    """Audit that `actor` published `update` after seeing and acknowledging these warnings."""
    audit.record(session, actor=actor, action="guard_acknowledged", outcome="ok", update_id=update.id,
                 message="; ".join(w.message for w in found)[:2000])
    session.commit()
