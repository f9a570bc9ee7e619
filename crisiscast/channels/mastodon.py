"""Posts public statuses to the hospital's Mastodon account (Mastodon.py), each with an Idempotency-Key."""
from __future__ import annotations

import html
import re
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import mastodon
import requests

from crisiscast.channels import (LOOKUP_SLACK, Channel, InDoubtError, Message, PermanentError, Receipt,
                                 RetryableError, same_text)
from crisiscast.channels.transport import lookup_error, mount, transport_error
from crisiscast.core.textlimits import MASTODON_DEFAULT_MAX

# Statuses a retry with the same Idempotency-Key may turn into a success: rate limits, "too early", 5xx.
RETRYABLE_STATUSES = {408, 425, 429}
# A failed limit lookup is asked again after this long; until then statuses are rendered to 500.
LIMIT_RETRY_SECONDS = 300.0
# The limit is asked while an author waits for the composer: an instance that does not answer soon costs 500.
LIMIT_TIMEOUT_SECONDS = 2.0
# The lookup reads at most this many pages of 40 statuses (Mastodon's page size) back to the claim's time.
LOOKUP_PAGES = 5
_TAG = re.compile(r"<[^>]+>")


class MastodonChannel(Channel):
    """The hospital's Mastodon account, posted to with an access token (scope write:statuses, read:accounts)."""

    name = "mastodon"
    label = "Mastodon"
    base_setting = "MASTODON_BASE_URL"
    required_settings = ("MASTODON_BASE_URL", "MASTODON_ACCESS_TOKEN")

    def __init__(self, settings):
        super().__init__(settings)
        self._client = None
        self._adapter = None
        self._lock = threading.Lock()
        self._limit: tuple[int, float] | None = None  # (max characters, monotonic time it may be asked again)

    def client(self) -> mastodon.Mastodon:
        """One Mastodon.py client per process: no version check (it would cost a GET /api/v1/instance), errors
        thrown rather than slept through, and our timeout."""
        with self._lock:
            if self._client is None:
                session = requests.Session()
                base = self.endpoint().rstrip("/")
                self._adapter = mount(session, base, base, float(self.settings.PROVIDER_TIMEOUT))
                self._client = mastodon.Mastodon(
                    access_token=self.settings.MASTODON_ACCESS_TOKEN, api_base_url=base, session=session,
                    request_timeout=float(self.settings.PROVIDER_TIMEOUT), ratelimit_method="throw",
                    version_check_mode="none", user_agent="crisiscast")
            return self._client

    def secrets(self):
        return (self.settings.MASTODON_ACCESS_TOKEN,)

    def prepare(self) -> None:
        if not self.missing_settings():
            self.client()

    def max_characters(self) -> int:
        """The instance's status length (v2, else v1 `configuration.statuses.max_characters`), asked once per
        process; 500 while it cannot be had."""
        if self.missing_settings():
            return MASTODON_DEFAULT_MAX
        if self._limit is not None and (self._limit[1] == float("inf") or time.monotonic() < self._limit[1]):
            return self._limit[0]
        self.client()
        # Public endpoints, asked without the token and with a short timeout, on the client's session.
        asker = mastodon.Mastodon(api_base_url=self._client.api_base_url, session=self._client.session,
                                  request_timeout=min(LIMIT_TIMEOUT_SECONDS, float(self.settings.PROVIDER_TIMEOUT)),
                                  ratelimit_method="throw", version_check_mode="none", user_agent="crisiscast")
        try:
            found = _max_characters(asker)
        except (mastodon.MastodonError, requests.RequestException):
            found = None
        self._limit = (found, float("inf")) if found else (MASTODON_DEFAULT_MAX,
                                                            time.monotonic() + LIMIT_RETRY_SECONDS)
        return self._limit[0]

    def send(self, message: Message) -> Receipt:
        """A public status; a correction (`reply_to`) answers the original in its thread, or, when the original
        is gone (deleted at the instance, 404), goes out as a status of its own: the correction must be seen."""
        try:
            return self._post(message, message.reply_to)
        except PermanentError as exc:
            if not message.reply_to or exc.code != "404":
                raise
        return Receipt(self._post(message, "").provider_id, status="a status of its own: the original is gone")

    def _post(self, message: Message, reply_to: str) -> Receipt:
        # The same key on every try of this delivery: the instance gives back the status it already made.
        key = f"crisiscast-{message.uid}-mastodon-post" if message.uid else None
        try:
            status = self.client().status_post(message.text, in_reply_to_id=reply_to or None, visibility="public",
                                               idempotency_key=key)
        except mastodon.MastodonError as exc:
            raise self._error(exc) from exc
        return Receipt(provider_id=str(status["id"]), status="reply" if reply_to else "")

    def delete(self, post_id: str) -> Receipt:
        """DELETE /api/v1/statuses/:id; a status that is already gone (404) counts as deleted."""
        try:
            self.client().status_delete(post_id)
        except mastodon.MastodonNotFoundError:
            return Receipt(provider_id=post_id, status="already gone")
        except mastodon.MastodonError as exc:
            raise self._error(exc) from exc
        return Receipt(provider_id=post_id, status="deleted")

    def _error(self, exc: mastodon.MastodonError) -> Exception:
        """Our error kind for what Mastodon.py raised (it wraps transport failures in MastodonNetworkError)."""
        if isinstance(exc, mastodon.MastodonNetworkError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, requests.RequestException):
                return transport_error(cause)
            return InDoubtError(f"no answer from the instance: {exc}", code="network")
        status = _status(exc) or (self._adapter.last_status() if self._adapter else None)
        text = _describe(exc, status)
        if status is not None and 200 <= status < 300:  # accepted, but the answer could not be read
            return InDoubtError(text, code=status)
        if isinstance(exc, mastodon.MastodonRatelimitError) or status == 429:
            return RetryableError("Mastodon rate limit reached", code=429, retry_after=self._retry_after())
        if status is None or status >= 500 or status in RETRYABLE_STATUSES:
            return RetryableError(text, code=status)
        return PermanentError(text, code=status)

    def _retry_after(self) -> float | None:
        """Seconds until X-RateLimit-Reset (Mastodon sends an ISO 8601 time), if the instance said."""
        headers = self._adapter.last_rate_limit_headers() if self._adapter else {}
        value = headers.get("x-ratelimit-reset") or headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, datetime.fromisoformat(value).timestamp() - time.time())
        except ValueError:
            return None

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The account's statuses since a little before `since` (newest first, a few pages) with our text."""
        try:
            me = self.client().account_verify_credentials()
            max_id = None
            for _ in range(LOOKUP_PAGES):
                page = self.client().account_statuses(me["id"], since_id=_aware(since) - LOOKUP_SLACK, max_id=max_id,
                                                      limit=40, exclude_reblogs=True)
                for status in page:
                    if same_text(message.text, content_text(status["content"])):
                        return Receipt(provider_id=str(status["id"]))
                if len(page) < 40:
                    return None
                max_id = page[-1]["id"]
        except mastodon.MastodonNetworkError as exc:
            raise lookup_error(exc.__context__ or exc) from exc
        except mastodon.MastodonError as exc:
            raise RetryableError(_describe(exc, None), code="lookup") from exc
        return None

    def describe(self, message: Message | None = None) -> str:
        host = urlsplit(self.settings.MASTODON_BASE_URL or "").netloc
        return f"account on {host}" if host else "account"


def _aware(moment: datetime) -> datetime:
    """Our timestamps are naive UTC; Mastodon.py turns a datetime into a status id through its epoch time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _max_characters(client: mastodon.Mastodon) -> int | None:
    try:
        instance = client.instance_v2()
    except mastodon.MastodonNotFoundError:  # an instance older than 4.0
        instance = client.instance_v1()
    statuses = (instance.get("configuration") or {}).get("statuses") or {}
    found = statuses.get("max_characters") or instance.get("max_toot_chars")
    return int(found) if found and int(found) > 0 else None


def content_text(content: str) -> str:
    """A status's HTML content as the text that was posted: paragraphs and line breaks back to newlines."""
    text = re.sub(r"<br\s*/?>", "\n", content or "")
    text = re.sub(r"</p>\s*<p>", "\n\n", text)
    return html.unescape(_TAG.sub("", text))


def _status(exc: mastodon.MastodonError) -> int | None:
    """The HTTP status Mastodon.py put in an API error's arguments (message, status, reason, error)."""
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


def _describe(exc: mastodon.MastodonError, status: int | None) -> str:
    """Mastodon's own error text ('Validation failed: Text character limit of 500 exceeded'), else the status."""
    args = [a for a in exc.args if isinstance(a, str)]
    message = args[-1] if len(args) >= 3 and args[-1] else ""
    return message or (f"HTTP {status}" if status else str(exc))
