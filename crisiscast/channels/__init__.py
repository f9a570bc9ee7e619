"""The channel interface, its errors, and the registry that builds the enabled channels."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable


@dataclass(frozen=True)
class Message:
    """A rendering handed to a channel: the text, its link and title, and for SMS the recipient."""

    text: str
    link: str = ""
    title: str = ""
    to: str = ""
    uid: str = ""
    ref: str = ""  # names the send (an SMS recipient row) to the provider, so its receipts name it back
    reply_to: str = ""  # a correction on X or Mastodon: the post it answers, so followers of the thread see it
    edit: str = ""  # a correction on Facebook: the post it edits in place
    description: str = ""  # a link card's description (Bluesky), under `title`
    # Asked once the send's turn at the throttle comes, just before it goes out: False withdraws it (its update was
    # retracted while it waited), and the channel raises Withdrawn instead of sending.
    wanted: Callable[[], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Receipt:
    """The provider's answer to an accepted send."""

    provider_id: str
    status: str = ""


class ChannelError(Exception):
    """A send the provider did not accept; `code` and `message` are the provider's own."""

    def __init__(self, message: str, code: str | int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = None if code is None else str(code)
        self.retry_after = retry_after


class RetryableError(ChannelError):
    """Nothing was accepted and the same request may succeed later: timeouts to connect, 429, 5xx."""


class PermanentError(ChannelError):
    """Sending again will not help: a bad number, bad credentials, a duplicate post."""


class Unavailable(ChannelError):
    """Not sent, and not the provider's doing: our shared throttle (Redis) is unreachable. Try again later."""


class Withdrawn(Unavailable):
    """Not sent: its update was retracted while the send waited for its turn. Handed back, then cancelled."""


class InDoubtError(ChannelError):
    """The request may have reached the provider but no answer came; resending could duplicate it."""


class Channel(ABC):
    """One destination. It only transports: rendering to its limits happens in crisiscast.core.rendering."""

    name: str = ""
    label: str = ""
    required_settings: tuple[str, ...] = ()
    base_setting: str = ""

    def __init__(self, settings):
        self.settings = settings

    def missing_settings(self) -> list[str]:
        """The settings this channel needs that are empty; an empty list means it is configured."""
        return [key for key in self.required_settings if not getattr(self.settings, key)]

    def endpoint(self) -> str:
        """The provider API base URL this channel sends to ('' for channels without one)."""
        return getattr(self.settings, self.base_setting) if self.base_setting else ""

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach the audit log or a log line."""
        return ()

    def prepare(self) -> None:
        """Build the SDK client ahead of the first send (a worker does at start: an alert's first message
        should not wait for the SDK's imports)."""

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Send one message; return the provider's receipt or raise a ChannelError."""

    def delete(self, post_id: str) -> Receipt:
        """Take a published post down (a retraction); deleting what is already gone succeeds."""
        raise PermanentError(f"{self.label} posts cannot be deleted by crisiscast.", code="unsupported")

    @abstractmethod
    def find(self, message: Message, since: datetime) -> Receipt | None:
        """Look `message` up at the provider among what was posted since `since`: its receipt, or None."""

    @abstractmethod
    def describe(self, message: Message | None = None) -> str:
        """The target of a send, with secrets and most digits masked."""


class NoBreaker:
    """The circuit breaker port's null form: never pauses (crisiscast.sending.breaker has the shared one)."""

    def wait_seconds(self, channel: str) -> float:
        return 0.0

    def record(self, channel: str, ok: bool) -> None:
        return None


_URL = re.compile(r"https?://\S+")
# A claim's time and the provider's timestamps come from different clocks; lookups start this much earlier.
LOOKUP_SLACK = timedelta(minutes=2)
# Twilio stamps a message to the second, by its own clock: an SMS lookup window opens this much earlier.
CLOCK_SLACK = timedelta(seconds=5)


def same_text(sent: str, found: str) -> bool:
    """True when a provider's copy is our text; providers rewrite links (X's t.co), so links compare as equal."""
    return _URL.sub("<link>", sent or "").strip() == _URL.sub("<link>", found or "").strip()


def build_channels(settings, sessions) -> dict[str, Channel]:
    """Every channel, keyed by name; `sessions` is the database session factory the feed writes with."""
    from crisiscast.channels.facebook import FacebookChannel
    from crisiscast.channels.feed import FeedChannel
    from crisiscast.channels.sms import SmsChannel
    from crisiscast.channels.x import XChannel
    from crisiscast.channels.bluesky import BlueskyChannel
    from crisiscast.channels.mastodon import MastodonChannel

    return {
        "sms": SmsChannel(settings),
        "x": XChannel(settings),
        "facebook": FacebookChannel(settings),
        "feed": FeedChannel(settings, sessions),
        "bluesky": BlueskyChannel(settings),
        "mastodon": MastodonChannel(settings),
    }
