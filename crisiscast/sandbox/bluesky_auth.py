"""Bluesky's sessions as a PDS keeps them: createSession (rate limited per account), refreshSession (rotating
the refresh token), and access tokens that expire, by their own `exp` claim or by the sandbox's say-so."""
from __future__ import annotations

import base64
import json
import secrets
import time

from aiohttp import web

SESSION_WINDOW = 300  # createSession: at most `bluesky_session_limit` per account per 5 minutes
DID = "did:plc:sandboxhospitalbskyaaaaa"
REFRESH_SECONDS = 90 * 24 * 3600


def xrpc_error(status: int, error: str, message: str, headers=None) -> web.Response:
    """An XRPC error body, as every PDS method answers one."""
    return web.json_response({"error": error, "message": message}, status=status, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(payload: dict) -> str:
    header = {"typ": "at+jwt", "alg": "ES256K"}
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()),
                     _b64(secrets.token_bytes(64))))


def _tokens(state) -> dict:
    """token → {"kind", "issued", "exp"}: what this PDS issued and has not rotated away."""
    return state.bluesky["tokens"]


def issue(state) -> dict:
    """A new pair of tokens for the sandbox account (a createSession's or refreshSession's answer)."""
    now = time.time()
    access_exp = now + state.settings.bluesky_access_seconds
    access = _jwt({"scope": "com.atproto.appPass", "sub": DID, "aud": "did:web:sandbox", "iat": int(now),
                   "exp": int(access_exp)})
    refresh = _jwt({"scope": "com.atproto.refresh", "sub": DID, "aud": "did:web:sandbox", "iat": int(now),
                    "exp": int(now + REFRESH_SECONDS), "jti": secrets.token_urlsafe(16)})
    _tokens(state)[access] = {"kind": "access", "issued": now, "exp": access_exp}
    _tokens(state)[refresh] = {"kind": "refresh", "issued": now, "exp": now + REFRESH_SECONDS}
    return {"accessJwt": access, "refreshJwt": refresh, "handle": state.credentials.bluesky_handle, "did": DID,
            "active": True}


def check(state, request, kind: str = "access") -> web.Response | None:
    """None when the request carries a live token of `kind`; else the PDS's refusal."""
    header = request.headers.get("Authorization", "")
    token = _tokens(state).get(header.removeprefix("Bearer "))
    if not header.startswith("Bearer ") or token is None:
        return xrpc_error(401, "AuthenticationRequired", "Authentication Required")
    if token["kind"] != kind:
        return xrpc_error(400, "InvalidToken", "Invalid token type")
    cutoff = state.settings.bluesky_access_expired_before if kind == "access" else \
        state.settings.bluesky_refresh_expired_before
    if time.time() >= token["exp"] or token["issued"] < cutoff:
        return xrpc_error(400, "ExpiredToken", "Token has expired")
    return None


async def create_session(state, request) -> web.Response:
    """com.atproto.server.createSession with the handle (or DID) and an app password."""
    data = await request.json()
    starts = [t for t in state.bluesky["session_starts"] if t > time.time() - SESSION_WINDOW]
    state.bluesky["session_starts"] = starts
    if len(starts) >= state.settings.bluesky_session_limit:
        reset = int(starts[0] + SESSION_WINDOW) + 1
        state.counters["bluesky.session_refused"] += 1
        return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers={
            "ratelimit-limit": str(state.settings.bluesky_session_limit), "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset), "ratelimit-policy": f"{state.settings.bluesky_session_limit};w=300"})
    c = state.credentials
    if data.get("identifier", "").lstrip("@") not in (c.bluesky_handle, DID) or \
            data.get("password") != c.bluesky_app_password:
        return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    starts.append(time.time())
    state.counters["bluesky.create_session"] += 1
    return web.json_response(issue(state))


async def refresh_session(state, request) -> web.Response:
    """com.atproto.server.refreshSession: new tokens for a live refresh token, which is then used up."""
    refused = check(state, request, "refresh")
    if refused:
        return refused
    del _tokens(state)[request.headers["Authorization"].removeprefix("Bearer ")]
    state.counters["bluesky.refresh_session"] += 1
    return web.json_response(issue(state))
