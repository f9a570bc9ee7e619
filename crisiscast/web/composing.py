"""The compose form's checks, shared by the full-page preview and the live one: fill the placeholders, validate,
render every channel, and sum up what Publish will do."""
from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from crisiscast.core import placeholders, promise
from crisiscast.core.audience import EXERCISE, PUBLIC
from crisiscast.core.counters import live_counts
from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.rendering import Rendering, fingerprint
from crisiscast.services import publishing, review
from crisiscast.store.models import utcnow
from crisiscast.web.helpers import db, runtime, settings


@dataclass
class Checked:
    """A compose form after the checks: the draft, its renderings and digest, or the errors that stop it."""

    values: dict
    draft: Draft
    errors: dict = field(default_factory=dict)
    renderings: dict[str, Rendering] | None = None
    digest: str = ""
    counts: dict = field(default_factory=dict)
    # The guards' findings (patient information, contradictions): publishing needs them acknowledged.
    warnings: list = field(default_factory=list)
    audience: str = PUBLIC
    # Per field: the notice that invisible control characters were removed from what the author typed.
    notices: dict = field(default_factory=dict)
    # An exercise's chosen channels that it does not use, each with the reason.
    skipped: dict = field(default_factory=dict)

    _estimate: dict | None = field(default=None, repr=False)

    @property
    def estimate(self) -> dict | None:
        """Texts, segments and time the SMS fan-out will take; counted when first asked, by a page that shows
        it: Publish itself does not need it (with 100,000 subscribers the count was most of its time)."""
        if self._estimate is None and self.renderings and "sms" in self.renderings:
            self._estimate = publishing.sms_estimate(db(), self.draft, settings(), self.renderings["sms"])
        return self._estimate

    @property
    def asking(self) -> list[str]:
        """The placeholders the form still asks the author to fill."""
        return placeholders.in_fields(self.values)


def unchecked(values: dict, uid: str) -> Checked:
    """A form as it starts (or comes back), not validated yet: only its counters. Invisible control characters
    are taken out of the author's text here, so the form shows (and publish sends) the text without them."""
    clock = promise.Clock.of(settings().TIMEZONE, utcnow())
    values = promise.settle_form(values, clock)
    typed = Draft.from_form(values, clock)
    if typed.notices:
        values = {**values, **typed.text_values()}
    draft = Draft.from_form(placeholders.fill_form(values, placeholders.values_from(values)), clock)
    limits = publishing.channel_limits(draft, runtime().channels)
    # An exercise's counters count its "EXERCISE —" marker: what the limits will see.
    ctx = publishing.render_context(settings(), uid, EXERCISE if draft.exercise else PUBLIC, limits=limits)
    return Checked(values, draft, counts=live_counts(draft, ctx),
                   notices=dict(typed.notices))


def check(values: dict, uid: str) -> Checked:
    """Fill the form's placeholders, validate and render it as publish will, and run the guards."""
    result = unchecked(values, uid)
    draft = result.draft
    filled = placeholders.fill_form(values, placeholders.values_from(values))
    left = placeholders.unfilled(filled)
    left.update({f"ph_{name}": f"Fill in {placeholders.label(name).lower()}: it cannot go out as {{{name}}}."
                 for name in placeholders.in_fields(filled)})
    try:
        decided = publishing.check(db(), draft, settings(), uid, runtime().channels)
    except ValidationError as exc:
        result.errors = {**exc.errors, **left}
        return result
    if left:
        result.errors = left
        return result
    renderings, result.audience, result.skipped = decided.renderings, decided.audience, decided.skipped
    result.renderings, result.digest = renderings, fingerprint(renderings, draft.lists, decided.audience)
    result.warnings = review.warnings(draft, settings())
    return result


def zone_label() -> str:
    """"America/Chicago, CST now": the zone the composer's clock time is read in."""
    name = settings().TIMEZONE
    return f"{name}, {utcnow().astimezone(ZoneInfo(name)):%Z} now"


def publish_label(checked: Checked) -> str:
    """'Publish to 4 channels · 1,240 texts': what the button does, in its own words."""
    count = len([c for c in checked.renderings or checked.draft.channels if c not in checked.skipped])
    text = f"Publish {'exercise ' if checked.audience == EXERCISE else ''}to {count} channel{'s' if count != 1 else ''}"
    if checked.estimate:
        texts = checked.estimate["recipients"]
        text += f" · {texts:,} text{'s' if texts != 1 else ''}"
    return text
