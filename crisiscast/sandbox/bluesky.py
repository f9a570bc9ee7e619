"""A Bluesky PDS's XRPC methods, as much as crisiscast and the atproto SDK use: sessions (bluesky_auth), and
app.bsky.feed.post records created, read, listed and deleted, validated as the PDS validates a post."""
from __future__ import annotations

import secrets
import time
from functools import partial

import regex
from aiohttp import web

from crisiscast.sandbox import bluesky_auth
from crisiscast.sandbox.bluesky_auth import DID, xrpc_error

NAME = "bluesky"
POST = "app.bsky.feed.post"
MAX_GRAPHEMES, MAX_BYTES = 300, 3000
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def fault_response(kind: str) -> web.Response:
    if kind == "429":
        return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers={
            "ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-reset": str(int(time.time()) + 2),
            "ratelimit-policy": "5000;w=3600"})
    if kind == "503":
        return xrpc_error(503, "UpstreamFailure", "Upstream Failure")
    if kind == "permanent":
        return xrpc_error(401, "AuthenticationRequired", "Account has been taken down")
    return xrpc_error(500, "InternalServerError", "Internal Server Error")


def routes(state) -> list:
    x = "/xrpc/"
    return [web.post(x + "com.atproto.server.createSession", partial(bluesky_auth.create_session, state)),
            web.post(x + "com.atproto.server.refreshSession", partial(bluesky_auth.refresh_session, state)),
            web.post(x + "com.atproto.repo.createRecord", partial(create_record, state)),
            web.post(x + "com.atproto.repo.deleteRecord", partial(delete_record, state)),
            web.get(x + "com.atproto.repo.getRecord", partial(get_record, state)),
            web.get(x + "com.atproto.repo.listRecords", partial(list_records, state))]


def _tid() -> str:
    """A record key: a TID, 13 sortable base32 characters of microseconds and a clock id."""
    value = (int(time.time() * 1_000_000) << 10) | secrets.randbelow(1024)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def _cid() -> str:
    return "bafyrei" + "".join(secrets.choice(_B32) for _ in range(52))


def invalid_post(record: dict) -> str:
    """Why the PDS would refuse `record` as an app.bsky.feed.post, or ''."""
    text = record.get("text")
    if not isinstance(text, str) or not isinstance(record.get("createdAt"), str):
        return "Record must have the properties \"text\" and \"createdAt\""
    if len(regex.findall(r"\X", text)) > MAX_GRAPHEMES:
        return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
    if len(text.encode()) > MAX_BYTES:
        return f"Record/text must not be longer than {MAX_BYTES} characters"
    for i, facet in enumerate(record.get("facets") or []):
        index = facet.get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text.encode())):
            return f"Record/facets/{i}/index must be a byte range within the text"
        try:
            text.encode()[start:end].decode()
        except UnicodeDecodeError:
            return f"Record/facets/{i}/index must not split a character"
    reply = record.get("reply")
    if reply and not all(isinstance(reply.get(k), dict) and reply[k].get("uri") and reply[k].get("cid")
                         for k in ("root", "parent")):
        return "Record/reply must have the properties \"root\" and \"parent\", strong references"
    external = (record.get("embed") or {}).get("external")
    if external is not None and not all(isinstance(external.get(k), str) for k in ("uri", "title", "description")):
        return "Record/embed/external must have the properties \"uri\", \"title\" and \"description\""
    return ""


def _posts(state) -> list[dict]:
    return [r for r in state.records if r["provider"] == NAME and r["kind"] == "post" and not r.get("deleted")]


async def create_record(state, request) -> web.Response:
    refused = bluesky_auth.check(state, request)
    if refused:
        return refused
    data = await request.json()
    if data.get("repo") not in (DID, state.credentials.bluesky_handle) or data.get("collection") != POST:
        return xrpc_error(400, "InvalidRequest", "This sandbox keeps the account's own app.bsky.feed.post records")
    record = data.get("record") or {}
    problem = invalid_post(record)
    if problem:
        return xrpc_error(400, "InvalidRequest", f"Invalid {POST} record: {problem}")
    rkey = _tid()
    uri, cid = f"at://{DID}/{POST}/{rkey}", _cid()
    state.record(NAME, "post", id=uri, cid=cid, text=record["text"], created_at=record["createdAt"],
                 link=(record.get("embed") or {}).get("external", {}).get("uri", ""),
                 reply_to=(record.get("reply") or {}).get("parent", {}).get("uri", ""), value=record)
    return web.json_response({"uri": uri, "cid": cid, "validationStatus": "valid",
                              "commit": {"cid": _cid(), "rev": rkey}})


async def delete_record(state, request) -> web.Response:
    """Deletes the record; one that does not exist is no error (the PDS answers the same)."""
    refused = bluesky_auth.check(state, request)
    if refused:
        return refused
    data = await request.json()
    uri = f"at://{DID}/{data.get('collection')}/{data.get('rkey')}"
    for r in _posts(state):
        if r["id"] == uri:
            r["deleted"] = True
            state.record(NAME, "delete", id=uri)
    return web.json_response({"commit": {"cid": _cid(), "rev": _tid()}})


async def get_record(state, request) -> web.Response:
    uri = f"at://{DID}/{request.query.get('collection')}/{request.query.get('rkey')}"
    for r in _posts(state):
        if r["id"] == uri:
            return web.json_response({"uri": uri, "cid": r["cid"], "value": r["value"]})
    return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")


async def list_records(state, request) -> web.Response:
    """The collection's records, newest first (oldest first with reverse=true), `limit` (≤ 100) at a time."""
    if request.query.get("collection") != POST:
        return web.json_response({"records": []})
    limit = min(100, int(request.query.get("limit", 50)))
    posts = _posts(state) if request.query.get("reverse") == "true" else list(reversed(_posts(state)))
    records = [{"uri": r["id"], "cid": r["cid"], "value": r["value"]} for r in posts[:limit]]
    return web.json_response({"records": records, **({"cursor": posts[limit - 1]["id"].rsplit("/", 1)[1]}
                                                      if len(posts) > limit else {})})
