"""The words of a status update: statuses, the draft staff write, and delivery states.

Pure data and validation; nothing here does I/O.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crisiscast.core import promise
from crisiscast.core.text import is_clean, removal_notice, scrub

ER_ACCESS = {
    "open": "Open",
    "open_delays": "Open with delays",
    "diversion": "On ambulance diversion",
    "closed_walkins": "Closed to walk-ins",
    "closed": "Closed",
}

OPERATING_STATUS = {
    "normal": "Normal operations",
    "limited": "Limited: elective procedures postponed",
    "lockdown": "Lockdown",
    "evacuating": "Evacuating",
    "closed": "Closed",
}

CHANNELS = ("sms", "x", "facebook", "feed")
CHANNELS += ("bluesky",)
# Mastodon (issue #16): its own block beside Bluesky's.
CHANNELS += ("mastodon",)
# A delivery is one action on one channel: "x" posts; "x.delete" takes the post down (a retraction);
# "sms.notice" texts a retraction notice to those who got the original.
ACTIONS = {"x.delete": "X: delete the post", "facebook.delete": "Facebook Page: delete the post",
           "sms.notice": "SMS: retraction notice"}
ACTIONS["bluesky.delete"] = "Bluesky: delete the post"
ACTIONS["mastodon.delete"] = "Mastodon: delete the post"
CHANNEL_LABELS = {"sms": "SMS", "x": "X", "facebook": "Facebook Page", "feed": "RSS/Atom feed", **ACTIONS}
CHANNEL_LABELS["bluesky"] = "Bluesky"
CHANNEL_LABELS["mastodon"] = "Mastodon"


SMS_DELIVERIES = ("sms", "sms.notice")  # the deliveries that fan out to recipient rows


def channel_action(delivery_channel: str) -> tuple[str, str]:
    """("x", "delete") for "x.delete"; ("sms", "post") for "sms"."""
    channel, _, action = delivery_channel.partition(".")
    return channel, action or "post"

HEADLINE_MAX = 120
BODY_MAX = 4000
INCIDENT_MAX = 120
# The free-text fields of a draft, by the label the composer shows them under.
TEXT_FIELDS = {"incident": "Incident", "headline": "Headline", "body": "Text"}


class DeliveryState:
    """The states a delivery (one channel of one update) moves through."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Sent or not, nobody knows yet: the reconciler asks the provider before anything is sent again.
    IN_DOUBT = "in_doubt"

    FINAL = frozenset({SENT, PARTIAL, FAILED, SKIPPED})
    RETRYABLE = frozenset({FAILED, PARTIAL})


class RecipientState:
    """The states of one SMS to one recipient."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    IN_DOUBT = "in_doubt"

    FINAL = frozenset({SENT, FAILED, CANCELLED})


class ValidationError(Exception):
    """A draft cannot be published; `errors` maps a field name to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Draft:
    """What an author typed, before it is stored."""

    incident: str
    er_access: str
    operating_status: str
    headline: str
    body: str = ""
    channels: tuple[str, ...] = field(default_factory=tuple)
    lists: tuple[str, ...] = field(default_factory=tuple)
    # The promised next update: the clock time as typed ("14:30", in the hospital's zone), the UTC instant it
    # resolved to, or that no further update is planned.
    next_at: str = ""
    next_update_at: datetime | None = None
    no_further_updates: bool = False
    corrects: str = ""
    # (field, notice) for each text field that had invisible control characters removed; not part of the text.
    notices: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # The author chose to let earlier updates' texts finish rather than be superseded by this one.
    keep_earlier: bool = False
    # Why the clock time typed cannot be a promise (it passed a moment ago, or is no time); not part of the text.
    promise_error: str = field(default="", compare=False)
    # A drill: marked "EXERCISE —" everywhere, never public (crisiscast.core.audience.EXERCISE).
    exercise: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, str | Sequence[str]], clock: promise.Clock | None = None) -> Draft:
        """Build a draft from a plain mapping (a string or a list of strings per field), trimming whitespace and
        removing what XML cannot carry (with a notice naming the field and the positions); the clock time of the
        next update resolves against `clock` (the hospital's zone and now)."""
        text = {name: scrub(form.get(name) or "") for name in TEXT_FIELDS}
        next_at = (_getlist(form, "next_at") or [""])[0].strip()[:promise.CLOCK_MAX]
        at, problem = promise.from_clock(next_at, clock)
        return cls(
            incident=text["incident"].text.strip(),
            er_access=(form.get("er_access") or "").strip(),
            operating_status=(form.get("operating_status") or "").strip(),
            headline=" ".join(text["headline"].text.split()),
            body=text["body"].text.strip(),
            channels=tuple(c for c in CHANNELS if c in _getlist(form, "channels")),
            lists=tuple(dict.fromkeys(n.strip() for n in _getlist(form, "lists") if n.strip())),
            next_at=next_at, next_update_at=at, no_further_updates=bool(form.get("no_further_updates")),
            promise_error=problem,
            corrects=(form.get("corrects") or "").strip(),
            notices=tuple((name, removal_notice(TEXT_FIELDS[name], t.removed)) for name, t in text.items()
                          if t.removed),
            keep_earlier=bool(form.get("keep_earlier")),
            exercise=bool(form.get("exercise")),
        )

    def text_values(self) -> dict[str, str]:
        """The free-text fields as the draft holds them (cleaned), for a form to show back."""
        return {name: getattr(self, name) for name in TEXT_FIELDS}

    def validate(self) -> None:
        """Raise ValidationError naming every field that is wrong."""
        errors: dict[str, str] = {}
        if not self.incident:
            errors["incident"] = "Name the incident this update belongs to."
        elif len(self.incident) > INCIDENT_MAX:
            errors["incident"] = f"The incident name is {len(self.incident)} characters; the limit is {INCIDENT_MAX}."
        if self.er_access not in ER_ACCESS:
            errors["er_access"] = "Choose the ER access status from the list."
        if self.operating_status not in OPERATING_STATUS:
            errors["operating_status"] = "Choose the hospital operating status from the list."
        if not self.headline:
            errors["headline"] = "Write a headline."
        elif len(self.headline) > HEADLINE_MAX:
            errors["headline"] = f"The headline is {len(self.headline)} characters; the limit is {HEADLINE_MAX}."
        problem = promise.problem(self.next_at, self.next_update_at, self.no_further_updates, self.promise_error)
        if problem:
            errors["next_at"] = problem
        if len(self.body) > BODY_MAX:
            errors["body"] = f"The text is {len(self.body)} characters; the limit is {BODY_MAX}."
        if not self.channels:
            errors["channels"] = "Choose at least one channel."
        elif "sms" in self.channels and not self.lists:
            errors["lists"] = "Choose at least one list to text."
        for name, label in TEXT_FIELDS.items():
            # from_form removes these; a draft built another way must not store what the public site cannot render
            if name not in errors and not is_clean(getattr(self, name)):
                errors[name] = f"{label}: remove the invisible control characters; the public feeds cannot carry them."
        if errors:
            raise ValidationError(errors)

    @property
    def er_label(self) -> str:
        return ER_ACCESS.get(self.er_access, self.er_access)

    @property
    def status_label(self) -> str:
        return OPERATING_STATUS.get(self.operating_status, self.operating_status)


def _getlist(form: Mapping, key: str) -> list[str]:
    value = form.get(key) or ()
    return [value] if isinstance(value, str) else list(value)


def backoff_seconds(attempt: int, base: float, cap: float, retry_after: float | None = None,
                    rand: float = 1.0) -> float:
    """Exponential backoff with jitter for the `attempt`-th try (1-based), never sooner than `retry_after`."""
    delay = min(cap, base * (2 ** max(0, attempt - 1))) * (0.5 + rand / 2)
    return max(delay, retry_after or 0.0)
