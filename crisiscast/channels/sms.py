"""SMS through Twilio's Messages API, one message to one recipient per send."""
from __future__ import annotations

import threading
from functools import lru_cache
from datetime import datetime, timezone
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from urllib3.exceptions import HTTPError

from crisiscast.channels import CLOCK_SLACK, Channel, Message, PermanentError, Receipt, RetryableError, same_text
from crisiscast.channels.transport import lookup_error, retry_after_seconds, transport_error
from crisiscast.channels.twilio_http import TwilioHttp
from crisiscast.core.masking import mask_numbers, mask_phone
from crisiscast.core.textlimits import count_sms

TWILIO_REAL_BASE = "https://api.twilio.com"
RETRYABLE_CODES = {"20429", "20500", "20503", "30001"}


class SmsChannel(Channel):
    """Twilio SMS; the client is built once per channel, its base URL and timeout from settings."""

    name = "sms"
    label = "SMS"
    base_setting = "TWILIO_API_BASE"
    required_settings = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")

    def missing_settings(self) -> list[str]:
        """As for any channel, except that a Messaging Service stands in for the number: its pool sends."""
        missing = super().missing_settings()
        if self.settings.TWILIO_MESSAGING_SERVICE_SID and "TWILIO_FROM_NUMBER" in missing:
            missing.remove("TWILIO_FROM_NUMBER")
        return missing

    def __init__(self, settings):
        super().__init__(settings)
        # The fan-out's threads and the reconciler's lookups share the connections.
        self._pool_maxsize = settings.SMS_WORKER_THREADS + 8
        self._building = threading.Lock()
        self._client = None
        self._http = None
        self._messages = None

    def client(self) -> Client:
        """The Twilio client, sending through our urllib3 HttpClient (base URL, timeout, throttle)."""
        with self._building:  # the reconciler looks up from several threads at once
            if self._client is None:
                self._http = TwilioHttp(TWILIO_REAL_BASE, self.endpoint(), self.settings.PROVIDER_TIMEOUT,
                                        self._pool_maxsize)
                client = Client(self.settings.TWILIO_ACCOUNT_SID, self.settings.TWILIO_AUTH_TOKEN,
                                http_client=self._http)
                # Stateless, and reached through lazily imported properties that cost a lookup per send.
                self._messages = client.messages
                self._client = client
        return self._client

    def messages(self):
        """The account's Messages resource."""
        if self._messages is None:
            self.client()
        return self._messages

    def prepare(self) -> None:
        self.client()

    def use_gate(self, gate) -> None:
        """Send every request under `gate` (the shared throttle): concurrency cap and sender rate."""
        self.client()
        self._http.gate = gate

    def status_callback_url(self, ref: str = "") -> str:
        """Where Twilio reports a message's delivery status: ours, under PUBLIC_BASE_URL, unless set.

        With `ref` (the recipient row) in its query: Twilio calls that URL, signed, only for the message that
        request created, so a receipt names its row even before the worker has stored the message's SID.
        """
        url = (self.settings.TWILIO_STATUS_CALLBACK_URL
               or f"{self.settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/twilio/status")
        if url and ref:
            url += ("&" if "?" in url else "?") + urlencode({"r": ref})
        return url

    def secrets(self):
        return (self.settings.TWILIO_AUTH_TOKEN,)

    def send(self, message: Message) -> Receipt:
        # A text stuck in Twilio's queue past the validity period expires rather than arriving hours late.
        kwargs = {"to": message.to, "body": message.text, "validity_period": self.settings.SMS_VALIDITY_SECONDS,
                  **self._sender()}
        callback = self.status_callback_url(message.ref)
        if callback:
            kwargs["status_callback"] = callback
        self.client()
        # Twilio's limits are segments per second: a three-segment text takes three turns of the sender's rate.
        self._http.sending(message.wanted, segments_of(message.text))
        try:
            created = self.messages().create(**kwargs)
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code else str(exc.status)
            # Twilio's message may repeat the refused number; it goes on to the audit log and the recipient rows.
            text = mask_numbers(exc.msg if isinstance(exc.msg, str) else str(exc.msg))
            if exc.status == 429 or exc.status >= 500 or code in RETRYABLE_CODES:
                wait = retry_after_seconds(self._http.last_rate_limit_headers())
                raise RetryableError(text, code=code, retry_after=wait) from exc
            raise PermanentError(text, code=code) from exc
        except HTTPError as exc:
            raise transport_error(exc) from exc
        return Receipt(provider_id=created.sid, status=created.status or "")

    def _sender(self) -> dict:
        """The SDK's sender argument: the Messaging Service (Twilio picks a number of its pool), else our number."""
        service = self.settings.TWILIO_MESSAGING_SERVICE_SID
        return {"messaging_service_sid": service} if service else {"from_": self.settings.TWILIO_FROM_NUMBER}

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The oldest message to this number with this text created since `since` (see `candidates`)."""
        found = self.candidates(message, since, datetime.now(timezone.utc))
        return found[0] if found else None

    def candidates(self, message: Message, start: datetime, end: datetime) -> list[Receipt]:
        """Messages from us to `message.to` with its text, created between `start` and `end` (give or take
        CLOCK_SLACK), oldest first: the only ones a send claimed in that window can have made. From us: from our
        number, or through our Messaging Service from whichever of its pool's numbers Twilio chose.

        Not filtered by DateSent at Twilio: a message still queued there has no date_sent yet.
        """
        service = self.settings.TWILIO_MESSAGING_SERVICE_SID
        # Twilio's list filters by From but not by service: a pooled message is ours by its messaging_service_sid.
        sender = {} if service else {"from_": self.settings.TWILIO_FROM_NUMBER}
        try:
            found = self.messages().list(to=message.to, limit=200, **sender)
        except TwilioException as exc:  # a failed page fetch is a plain TwilioException, not a TwilioRestException
            raise RetryableError(f"lookup failed: {exc}", code=getattr(exc, "code", None) or "lookup") from exc
        except HTTPError as exc:
            raise lookup_error(exc) from exc
        # date_created is whole seconds: the window's start is too.
        first, last = (start - CLOCK_SLACK).replace(microsecond=0), end + CLOCK_SLACK
        matching = [m for m in found if same_text(message.text, m.body) and m.date_created is not None
                    and first <= m.date_created <= last and (not service or m.messaging_service_sid == service)]
        return [Receipt(provider_id=m.sid, status=m.status or "")
                for m in sorted(matching, key=lambda m: m.date_created)]

    def describe(self, message: Message | None = None) -> str:
        if message and message.to:
            return mask_phone(message.to)
        service = self.settings.TWILIO_MESSAGING_SERVICE_SID
        return f"active subscribers, through Messaging Service {service[:6]}…" if service else "active subscribers"


@lru_cache(maxsize=64)
def segments_of(text: str) -> int:
    """The SMS segments of `text`; a fan-out sends one text many times, so it is counted once."""
    return max(1, count_sms(text).segments)
