"""Twilio's Messages API (2010-04-01), as described in shared/specs/twilio_api_v2010.json."""
from __future__ import annotations

import asyncio
import base64
import itertools
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import partial

from aiohttp import web

from crisiscast.core.textlimits import count_sms
from crisiscast.sandbox import callbacks

NAME = "twilio"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Twilio's magic test numbers: each To gives its documented error.
MAGIC_TO = {
    "+15005550001": (21211, "Invalid 'To' Phone Number"),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS"),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")
_turns = itertools.count()
BODY_MAX = 1600
VALIDITY_MAX = 36000


def error(status: int, code: int, message: str, headers=None) -> web.Response:
    """Twilio's error body: code, message, more_info, status."""
    return web.json_response({"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                             status=status, headers=headers)


def fault_response(kind: str) -> web.Response:
    if kind == "429":
        return error(429, 20429, "Too Many Requests", headers={"Retry-After": "1"})
    if kind == "503":
        return error(503, 20503, "Service Unavailable")
    if kind == "permanent":
        return error(400, 21610, "Attempt to send to unsubscribed recipient")
    return error(500, 20500, "Internal Server Error")


def routes(state) -> list:
    base = "/2010-04-01/Accounts/{account_sid}/Messages"
    return [web.post(base + ".json", partial(create, state)),
            web.get(base + ".json", partial(read, state)),
            web.get(base + "/{sid}.json", partial(fetch, state))]


def _authenticate(state, request) -> web.Response | None:
    creds = state.credentials
    header = request.headers.get("Authorization", "")
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        user, password = "", ""
    if not header.startswith("Basic ") or user != creds.twilio_account_sid or password != creds.twilio_auth_token:
        return error(401, 20003, "Authenticate")
    if request.match_info["account_sid"] != creds.twilio_account_sid:
        return error(404, 20404, "The requested resource was not found")
    return None


_now_cache = [0, ""]


def _rfc2822_now() -> str:
    """Now in Twilio's date format (RFC 2822). It changes once a second, so it is formatted once a second."""
    now = datetime.now(timezone.utc)
    second = int(now.timestamp())
    if _now_cache[0] != second:
        _now_cache[:] = [second, format_datetime(now.replace(microsecond=0))]
    return _now_cache[1]


async def create(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    form = await request.post()
    to, body = form.get("To", ""), form.get("Body", "")
    if not to:
        return error(400, 21604, "A 'To' phone number is required.")
    if to in MAGIC_TO:
        return error(400, *MAGIC_TO[to])
    if not E164.match(to):
        return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    sender, service, refused = _sender(state, form)
    if refused:
        return refused
    if not body:
        return error(400, 21602, "Message body is required.")
    if len(body) > BODY_MAX:
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    validity = form.get("ValidityPeriod")
    if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= VALIDITY_MAX):
        return error(400, 21624, "Validity period can only be set to integers between 1 and 36,000 seconds "
                                 "(10 hours max).")
    message = _resource(state, to, body, form.get("From") or None, service)
    # A message waits queue_delay_ms in Twilio's queue; past its ValidityPeriod it is never sent (error 30036).
    expired = validity is not None and state.settings.queue_delay_ms / 1000 > int(validity)
    state.record(NAME, "sms", id=message["sid"], to=to, sender=sender, body=body, validity_period=validity,
                 expired=expired, status_callback=form.get("StatusCallback"), resource=message,
                 from_given=form.get("From", ""), messaging_service_sid=service)
    callback = form.get("StatusCallback") if state.settings.status_callbacks else None
    answer = web.json_response(message, status=201)  # the body as created: a pooled message's From is not chosen yet
    # The pool's number is chosen once the message is queued; a status callback reports that change.
    message["from"] = sender
    if expired and not callback:
        message.update(status="failed", error_code=callbacks.EXPIRED)
    elif service and not callback:
        message["status"] = "queued"
    if callback:
        task = asyncio.get_running_loop().create_task(callbacks.report_status(state, message, callback, expired))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    return answer


def _sender(state, form) -> tuple[str, str, web.Response | None]:
    """Who sends: `From`, or with a MessagingServiceSid a number of the service's pool (`From` when it names one,
    else the next in turn). Both may be given, as Twilio allows; neither is 21603."""
    sender, service = form.get("From", ""), form.get("MessagingServiceSid", "")
    if not service:
        if not sender:
            return "", "", error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send "
                                             "a message")
        return sender, "", None
    if not MESSAGING_SERVICE.match(service):
        return "", "", error(400, 21705, "The Messaging Service is invalid")
    credentials = state.credentials
    if service != credentials.twilio_messaging_service_sid:
        return "", "", error(400, 21701, "The Messaging Service does not exist")
    pool = credentials.twilio_sender_pool
    if sender and sender not in pool:
        return "", "", error(400, 21606, "The 'From' phone number provided is not a valid message-capable "
                                         "Twilio phone number for this destination/account")
    return sender or pool[next(_turns) % len(pool)], service, None


def _resource(state, to: str, body: str, sender: str | None, service: str) -> dict:
    """A new Message resource: `accepted` through a Messaging Service, else `queued` (Twilio's initial statuses)."""
    now = _rfc2822_now()
    sid = state.new_id("SM")
    return {
        "account_sid": state.credentials.twilio_account_sid, "api_version": "2010-04-01", "body": body,
        "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": sender, "messaging_service_sid": service or None,
        "num_media": "0", "num_segments": str(count_sms(body).segments), "price": None, "price_unit": "USD",
        "sid": sid, "status": "accepted" if service else "queued",
        "subresource_uris": {"media": _uri(state, sid, "/Media.json")}, "to": to, "uri": _uri(state, sid, ".json"),
    }


async def read(state, request) -> web.Response:
    """The message list, filtered by To, From and DateSent as Twilio does; newest first."""
    refused = _authenticate(state, request)
    if refused:
        return refused
    q = request.query
    found = [r["resource"] for r in reversed(state.records) if r["provider"] == NAME and r["kind"] == "sms"
             and (not q.get("To") or r["to"] == q["To"]) and (not q.get("From") or r["sender"] == q["From"])]
    page_size = min(int(q.get("PageSize", 50)), 1000)
    uri = str(request.rel_url)
    return web.json_response({"messages": found[:page_size], "end": max(0, min(page_size, len(found)) - 1),
                              "first_page_uri": uri, "next_page_uri": None, "page": 0, "page_size": page_size,
                              "previous_page_uri": None, "start": 0, "uri": uri})


async def fetch(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    for r in state.records:
        if r["provider"] == NAME and r["id"] == request.match_info["sid"]:
            return web.json_response(r["resource"])
    return error(404, 20404, "The requested resource was not found")


def _uri(state, sid: str, suffix: str) -> str:
    return f"/2010-04-01/Accounts/{state.credentials.twilio_account_sid}/Messages/{sid}{suffix}"
