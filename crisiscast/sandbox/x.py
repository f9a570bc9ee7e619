"""X API v2: create and delete posts, with OAuth 1.0a user context and X's rate-limit headers."""
from __future__ import annotations

import re
import time
from functools import partial

from aiohttp import web

from crisiscast.sandbox import x_counting

NAME = "x"
RATE_LIMIT = 300


def problem(status: int, title: str, detail: str, headers=None, kind: str = "about:blank") -> web.Response:
    """X's problem-details error body."""
    return web.json_response({"title": title, "detail": detail, "type": kind, "status": status},
                             status=status, headers=headers)


def fault_response(kind: str) -> web.Response:
    if kind == "429":
        reset = str(int(time.time()) + 2)
        return problem(429, "Too Many Requests", "Too Many Requests",
                       headers={"x-rate-limit-limit": str(RATE_LIMIT), "x-rate-limit-remaining": "0",
                                "x-rate-limit-reset": reset})
    if kind == "503":
        return problem(503, "Service Unavailable", "Service Unavailable")
    if kind == "permanent":
        return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
    return problem(500, "Internal Server Error", "Internal Server Error")


def routes(state) -> list:
    return [web.post("/2/tweets", partial(create, state)),
            web.delete("/2/tweets/{id}", partial(delete, state)),
            web.get("/2/users/me", partial(me, state)),
            web.get("/2/users/{id}/tweets", partial(timeline, state))]


def _authenticate(state, request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    fields = dict(re.findall(r'(oauth_[a-z_]+)="([^"]*)"', header))
    if not header.startswith("OAuth ") or not fields.get("oauth_signature") or not fields.get("oauth_token") \
            or fields.get("oauth_consumer_key") != state.credentials.x_consumer_key:
        return problem(401, "Unauthorized", "Unauthorized")
    return None


def _headers(state) -> dict:
    used = state.counters.get(f"{NAME}.post", 0)
    return {"x-rate-limit-limit": str(RATE_LIMIT), "x-rate-limit-remaining": str(max(0, RATE_LIMIT - used)),
            "x-rate-limit-reset": str(int(time.time()) + 900)}


async def create(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    try:
        payload = await request.json()
    except ValueError:
        return problem(400, "Invalid Request", "Request body is not valid JSON.")
    text = payload.get("text") or ""
    if not text:
        return problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                       kind="https://api.twitter.com/2/problems/invalid-request")
    if x_counting.weight(text) > x_counting.MAX_WEIGHT:
        return web.json_response({"errors": [{"parameters": {"text": [text]},
                                              "message": "Tweet text is too long."}],
                                  "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request",
                                  "detail": "One or more parameters to your request was invalid."}, status=400)
    if any(r["provider"] == NAME and r["kind"] == "post" and r["text"] == text and not r.get("deleted")
           for r in state.records):
        return fault_response("permanent")
    reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
    if reply_to and not any(r["provider"] == NAME and r["kind"] == "post" and r["id"] == reply_to
                            and not r.get("deleted") for r in state.records):
        return problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you.")
    post_id = state.snowflake()
    state.record(NAME, "post", id=post_id, text=text, reply_to=reply_to,
                 created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
    return web.json_response({"data": {"edit_history_tweet_ids": [post_id], "id": post_id, "text": text}},
                             status=201, headers=_headers(state))


async def delete(state, request) -> web.Response:
    refused = _authenticate(state, request)
    if refused:
        return refused
    for r in state.records:
        if r["provider"] == NAME and r["kind"] == "post" and r["id"] == request.match_info["id"]:
            r["deleted"] = True
            state.record(NAME, "delete", id=r["id"])
            return web.json_response({"data": {"deleted": True}}, headers=_headers(state))
    return web.json_response({"data": {"deleted": False}}, headers=_headers(state))


async def me(state, request) -> web.Response:
    refused = _authenticate(state, request)
    return refused or web.json_response({"data": {"id": "1000001", "name": "Sandbox Hospital",
                                                  "username": "sandbox_hospital"}})


async def timeline(state, request) -> web.Response:
    """The account's posts, newest first, from start_time on, as GET /2/users/:id/tweets answers."""
    refused = _authenticate(state, request)
    if refused:
        return refused
    start = request.query.get("start_time", "")
    limit = int(request.query.get("max_results", 10))
    posts = [{"id": r["id"], "text": r["text"], "edit_history_tweet_ids": [r["id"]]} for r in reversed(state.records)
             if r["provider"] == NAME and r["kind"] == "post" and not r.get("deleted") and r["created_at"] >= start[:19]]
    return web.json_response({"data": posts[:limit], "meta": {"result_count": len(posts[:limit])}}
                             if posts else {"meta": {"result_count": 0}}, headers=_headers(state))
