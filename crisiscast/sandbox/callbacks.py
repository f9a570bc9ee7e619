"""Twilio's side of the webhooks: signed status callbacks for accepted messages, and inbound messages."""
from __future__ import annotations

import asyncio
import logging

import aiohttp
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)
# What the handset network does with these numbers once Twilio has sent the message.
DELIVERY_FAILURES = {"+15005550030": ("undelivered", "30003"), "+15005550031": ("failed", "30008")}
EXPIRED = 30036  # Validity Period Expired
_session: aiohttp.ClientSession | None = None
_limit = asyncio.Semaphore(50)


def signed_post_headers(state, url: str, params: dict) -> dict:
    """X-Twilio-Signature for `params` posted to `url` (query string included), as Twilio computes it, and the
    I-Twilio-Idempotency-Token Twilio gives each webhook request (kept across its retries)."""
    signature = RequestValidator(state.credentials.twilio_auth_token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": state.new_id(length=32)}


async def post_form(state, url: str, params: dict) -> tuple[int, str]:
    """POST a signed form the way Twilio does, to `url` as given (its query string too); (status, body), or
    (0, error) when nobody answers."""
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    async with _limit:
        try:
            async with _session.post(url, data=params, headers=signed_post_headers(state, url, params)) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return 0, f"{type(exc).__name__}: {exc}"


async def close(_app=None) -> None:
    """Close the client session the callbacks share (on the sandbox's shutdown)."""
    if _session is not None and not _session.closed:
        await _session.close()


async def report_status(state, message: dict, url: str, expired: bool = False) -> None:
    """Report sent, then delivered (or the failure these numbers get), to the message's StatusCallback; a message
    that waited in the queue past its ValidityPeriod is reported failed with 30036 and never sent. A message
    accepted by a Messaging Service is reported queued first, once its pool number is chosen; Twilio never
    reports a message's initial status (accepted, queued)."""
    pooled = message["status"] == "accepted"
    await asyncio.sleep(state.settings.queue_delay_ms / 1000)
    final, error_code = DELIVERY_FAILURES.get(message["to"], ("delivered", None))
    steps = ("sent", final)
    if expired:
        steps, final, error_code = ("failed",), "failed", str(EXPIRED)
    for status in ("queued",) * pooled + steps:
        await asyncio.sleep(state.settings.status_delay_ms / 1000)
        params = {"AccountSid": message["account_sid"], "ApiVersion": "2010-04-01", "From": message["from"] or "",
                  "To": message["to"], "MessageSid": message["sid"], "SmsSid": message["sid"],
                  "MessageStatus": status, "SmsStatus": status}
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if status == final and error_code:
            params["ErrorCode"] = error_code
        code, _ = await post_form(state, url, params)
        state.counters[f"twilio.callback_{code or 'unanswered'}"] += 1
        if not code:
            log.warning("status callback to %s: %s", url, _)
        message["status"] = status
        if status == final:
            message["error_code"] = int(error_code) if error_code else None
