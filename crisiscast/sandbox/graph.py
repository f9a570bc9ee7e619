"""The Graph API's Page feed: publish and delete Page posts with a Page access token."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import partial

from aiohttp import web

NAME = "graph"
OLDEST_VERSION = (19, 0)


def graph_error(status: int, code: int, message: str, transient: bool = False, headers=None) -> web.Response:
    """Graph's error body."""
    body = {"error": {"message": message, "type": "OAuthException", "code": code,
                      "fbtrace_id": "Sandbox" + str(code)}}
    if transient:
        body["error"]["is_transient"] = True
    return web.json_response(body, status=status, headers=headers)


def fault_response(kind: str) -> web.Response:
    if kind == "429":
        return graph_error(400, 32, "(#32) Page request limit reached", transient=True,
                           headers={"X-Page-Usage": '{"call_count":100,"total_cputime":10,"total_time":10}'})
    if kind == "503":
        return graph_error(503, 1, "An unknown error occurred", transient=True)
    if kind == "permanent":
        return graph_error(400, 190, "Error validating access token: The session has been invalidated.")
    return graph_error(500, 2, "An unexpected error has occurred. Please retry your request later.", transient=True)


def routes(state) -> list:
    return [web.post("/{version}/{page_id}/feed", partial(create, state)),
            web.get("/{version}/{page_id}/feed", partial(read, state)),
            web.post("/{version}/{post_id}", partial(edit, state)),
            web.delete("/{version}/{post_id}", partial(delete, state))]


async def _check(state, request) -> tuple[dict, web.Response | None]:
    params = dict(request.query)
    if request.method == "POST":
        params.update(await request.post())
    match = re.fullmatch(r"v(\d+)\.(\d+)", request.match_info["version"])
    if not match:
        return params, graph_error(400, 2500, f"Unknown path components: /{request.match_info['version']}")
    if (int(match[1]), int(match[2])) < OLDEST_VERSION:
        return params, graph_error(400, 2635, f"You are calling a deprecated version of the Ads API "
                                              f"({request.match_info['version']}). Please update to the latest version.")
    if params.get("access_token") != state.credentials.graph_page_token:
        return params, graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
    return params, None


async def create(state, request) -> web.Response:
    params, refused = await _check(state, request)
    if refused:
        return refused
    page_id = request.match_info["page_id"]
    if page_id != state.credentials.graph_page_id:
        return graph_error(400, 100, f"Unsupported post request. Object with ID '{page_id}' does not exist.")
    if not params.get("message") and not params.get("link"):
        return graph_error(400, 100, "(#100) Either message or link must be specified")
    post_id = f"{page_id}_{state.snowflake()}"
    state.record(NAME, "post", id=post_id, message=params.get("message", ""), link=params.get("link", ""),
                 created_time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"))
    return web.json_response({"id": post_id})


async def read(state, request) -> web.Response:
    params, refused = await _check(state, request)
    if refused:
        return refused
    since = datetime.fromtimestamp(int(params.get("since", 0)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")
    posts = [{"id": r["id"], "message": r["message"], "created_time": r["created_time"]}
             for r in reversed(state.records) if r["provider"] == NAME and r["kind"] == "post"
             and not r.get("deleted") and r["created_time"] >= since]
    limit = int(params.get("limit", 25))
    return web.json_response({"data": posts[:limit], "paging": {}})


async def edit(state, request) -> web.Response:
    """POST /{post-id}: a Page edits its own post's message."""
    params, refused = await _check(state, request)
    if refused:
        return refused
    if not params.get("message"):
        return graph_error(400, 100, "(#100) Either message or link must be specified")
    for r in state.records:
        if r["provider"] == NAME and r["kind"] == "post" and r["id"] == request.match_info["post_id"] \
                and not r.get("deleted"):
            r["message"] = params["message"]
            state.record(NAME, "edit", id=r["id"], message=params["message"])
            return web.json_response({"success": True})
    return graph_error(400, 100, f"Unsupported post request. Object with ID '{request.match_info['post_id']}' "
                                 "does not exist, cannot be loaded due to missing permissions, or does not support "
                                 "this operation.")


async def delete(state, request) -> web.Response:
    _, refused = await _check(state, request)
    if refused:
        return refused
    for r in state.records:
        if r["provider"] == NAME and r["kind"] == "post" and r["id"] == request.match_info["post_id"]:
            r["deleted"] = True
            state.record(NAME, "delete", id=r["id"])
            return web.json_response({"success": True})
    return graph_error(400, 100, f"Unsupported delete request. Object with ID '{request.match_info['post_id']}' "
                                 "does not exist.")
