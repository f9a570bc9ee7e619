"""A Mastodon instance's REST API: statuses with Idempotency-Key, deletes, the account's statuses, the instance.

It validates what an instance validates (bearer token, blank text, the status length counted as Mastodon
counts it, the status replied to) and keeps an Idempotency-Key for an hour as Mastodon does: the same key
gives back the status it first made, and makes no second one.
"""
from __future__ import annotations

import html
import re
import time
from datetime import datetime, timezone
from functools import partial

import regex
from aiohttp import web

NAME = "mastodon"
RATE_LIMIT = 300
IDEMPOTENCY_SECONDS = 3600
URL_LENGTH = 23
ACCOUNT = {"id": "109000000000000001", "username": "sandbox_hospital", "acct": "sandbox_hospital",
           "display_name": "Sandbox Hospital", "locked": False, "bot": True, "note": "", "url": "",
           "avatar": "", "header": "", "followers_count": 0, "following_count": 0, "statuses_count": 0,
           "created_at": "2024-01-01T00:00:00.000Z", "emojis": [], "fields": []}
# What Mastodon links in a status: URLs with a scheme and a named host (an IP address is no link to its
# extractor), less the punctuation that ends a sentence.
_URL = re.compile(r"https?://(?:[^\s/?#:<>\"]+\.)+[a-z][a-z0-9-]+(?::\d+)?(?:[/?#][^\s<>\"]*?)?"
                  r"(?=[.,:;!?)\]'\"]*(?:\s|$))", re.I)
_GRAPHEME = regex.compile(r"\X")


def length(text: str) -> int:
    """Mastodon's StatusLengthValidator: grapheme clusters, with each URL counted as 23."""
    return len(_GRAPHEME.findall(_URL.sub("x" * URL_LENGTH, text)))


def error(status: int, message: str, headers=None) -> web.Response:
    """Mastodon's error body: {"error": "..."}."""
    return web.json_response({"error": message}, status=status, headers=headers)


def fault_response(kind: str) -> web.Response:
    if kind == "429":
        return error(429, "Too many requests", headers={"X-RateLimit-Limit": str(RATE_LIMIT),
                                                        "X-RateLimit-Remaining": "0",
                                                        "X-RateLimit-Reset": _iso(time.time() + 2)})
    if kind == "503":
        return error(503, "Service Unavailable")
    if kind == "permanent":
        return error(403, "This action is not allowed")
    return error(500, "We're sorry, but something went wrong on our end.")


def routes(state) -> list:
    found = []
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        found.append(web.get(path, partial(instance_v1, state)))
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        found.append(web.get(path, partial(instance_v2, state)))
    return found + [web.post("/api/v1/statuses", partial(create, state)),
                    web.delete("/api/v1/statuses/{id}", partial(delete, state)),
                    web.get("/api/v1/accounts/verify_credentials", partial(verify_credentials, state)),
                    web.get("/api/v1/accounts/{id}/statuses", partial(statuses, state))]


def _authenticate(state, request) -> web.Response | None:
    if request.headers.get("Authorization", "") != f"Bearer {state.credentials.mastodon_token}":
        return error(401, "The access token is invalid")
    return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _headers(state) -> dict:
    used = state.counters.get(f"{NAME}.post", 0)
    return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - used)),
            "X-RateLimit-Reset": _iso(time.time() + 300)}


def _configuration(state) -> dict:
    return {"statuses": {"max_characters": state.settings.mastodon_max_characters,
                         "max_media_attachments": 4, "characters_reserved_per_url": URL_LENGTH}}


async def instance_v1(state, request) -> web.Response:
    state.counters[f"{NAME}.instance_v1"] += 1  # counted: a send must not cost one (Mastodon.py's version check)
    return web.json_response({"uri": "sandbox.test", "title": "Sandbox", "version": "4.3.0",
                              "configuration": _configuration(state)})


async def instance_v2(state, request) -> web.Response:
    state.counters[f"{NAME}.instance_v2"] += 1
    return web.json_response({"domain": "sandbox.test", "title": "Sandbox", "version": "4.3.0",
                              "api_versions": {"mastodon": 2}, "configuration": _configuration(state)})


async def verify_credentials(state, request) -> web.Response:
    return _authenticate(state, request) or web.json_response(ACCOUNT)


def _live(state, status_id: str) -> dict | None:
    return next((r for r in state.records if r["provider"] == NAME and r["kind"] == "post"
                 and r["id"] == status_id and not r.get("deleted")), None)


def _refusal(state, fields) -> web.Response | None:
    """What an instance answers a status it will not post, or None."""
    text = fields.get("status") or ""
    if not text.strip():
        return error(422, "Validation failed: Text can't be blank")
    if length(text) > state.settings.mastodon_max_characters:
        return error(422, f"Validation failed: Text character limit of {state.settings.mastodon_max_characters} "
                          "exceeded")
    if fields.get("visibility", "public") not in ("public", "unlisted", "private", "direct"):
        return error(422, "Validation failed: Visibility is not included in the list")
    reply_to = fields.get("in_reply_to_id")
    if reply_to and _live(state, reply_to) is None:
        return error(404, "The post you are trying to reply to does not appear to exist.")
    return None


async def create(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    fields = dict(await request.json()) if request.content_type == "application/json" else dict(await request.post())
    key = request.headers.get("Idempotency-Key", "")
    remembered = state.idempotency.get(key) if key else None
    if remembered and remembered[1] > time.time():
        earlier = _live(state, remembered[0])
        return web.json_response(_status(earlier), headers=_headers(state)) if earlier \
            else error(404, "Record not found")
    refused = _refusal(state, fields)
    if refused:
        return refused
    status_id = str((int(time.time() * 1000) << 16) | (state.new_sequence() & 0xFFFF))
    entry = state.record(NAME, "post", id=status_id, text=fields["status"], reply_to=fields.get("in_reply_to_id"),
                         visibility=fields.get("visibility", "public"), idempotency_key=key,
                         created_at=_iso(time.time()))
    if key:
        state.idempotency[key] = (status_id, time.time() + IDEMPOTENCY_SECONDS)
    return web.json_response(_status(entry), headers=_headers(state))


async def delete(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    entry = _live(state, request.match_info["id"])
    if entry is None:
        return error(404, "Record not found")
    entry["deleted"] = True
    state.record(NAME, "delete", id=entry["id"])
    return web.json_response({**_status(entry), "text": entry["text"]}, headers=_headers(state))


async def statuses(state, request) -> web.Response:
    """The account's statuses, newest first, between since_id/min_id and max_id, at most `limit` (40)."""
    refused = _authenticate(state, request)
    if refused:
        return refused
    if request.match_info["id"] != ACCOUNT["id"]:
        return error(404, "Record not found")
    query = request.query
    low = int(query.get("since_id") or query.get("min_id") or 0)
    high = int(query.get("max_id") or 0) or None
    limit = min(40, max(1, int(query.get("limit") or 20)))
    found = [_status(r) for r in reversed(state.records) if r["provider"] == NAME and r["kind"] == "post"
             and not r.get("deleted") and int(r["id"]) > low and (high is None or int(r["id"]) < high)]
    return web.json_response(found[:limit], headers=_headers(state))


def _status(entry: dict) -> dict:
    return {"id": entry["id"], "created_at": entry["created_at"], "in_reply_to_id": entry.get("reply_to"),
            "in_reply_to_account_id": ACCOUNT["id"] if entry.get("reply_to") else None,
            "sensitive": False, "spoiler_text": "", "visibility": entry["visibility"], "language": "en",
            "uri": f"https://sandbox.test/users/sandbox_hospital/statuses/{entry['id']}",
            "url": f"https://sandbox.test/@sandbox_hospital/{entry['id']}", "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "content": content_html(entry["text"]), "reblog": None,
            "account": ACCOUNT, "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "card": None,
            "poll": None, "edited_at": None}


def content_html(text: str) -> str:
    """The status as Mastodon renders it: paragraphs, line breaks, and links whose scheme is hidden."""
    def paragraph(part: str) -> str:
        escaped = html.escape(part)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}" rel="nofollow noopener" target="_blank">'
                                    f'<span class="invisible">{m.group(0).split("//")[0]}//</span>'
                                    f'<span class="">{m.group(0).split("//", 1)[1]}</span></a>', escaped)
        return "<p>" + linked.replace("\n", "<br />") + "</p>"

    return "".join(paragraph(p) for p in text.split("\n\n") if p)
