"""The Bluesky account as the atproto SDK reaches it: one session, posts, deletes, lookups, errors sorted.

Imported only when a Bluesky send (or a worker's prepare) needs it: the SDK's thousands of models take seconds
to import, which the console and the CLI should not pay.

The session is created once per process and reused: Bluesky allows about 30 createSession calls per 5 minutes
per account, and a worker posts far more often than that during an incident. The SDK refreshes the access token
ahead of its expiry; a token the server says has expired anyway is refreshed here, and only a refresh that is
refused signs in again.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import httpx
import pydantic
from atproto_client import Client, models
from atproto_client import exceptions as atx
from atproto_client.request import Request
from atproto_core.uri import AtUri

from crisiscast.channels import LOOKUP_SLACK, InDoubtError, Message, PermanentError, Receipt, RetryableError, same_text
from crisiscast.core.facets import link_facets

# 400s that mean the session, not the request, is at fault: refresh and ask again.
EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})


class BlueskyAccount:
    """The hospital's Bluesky account, signed in on first use (`settings` as the channel's)."""

    def __init__(self, settings, handle: str):
        self.settings = settings
        self.handle = handle
        self._client: Client | None = None
        self._did = ""
        self._lock = threading.Lock()  # one sign-in and one forced refresh at a time, across threads

    def _new_client(self) -> Client:
        return Client(base_url=self.settings.BLUESKY_PDS_URL,
                      request=Request(timeout=float(self.settings.PROVIDER_TIMEOUT)))

    def client(self) -> Client:
        """The signed-in client, signing in on first use only."""
        with self._lock:
            if self._client is None:
                client = self._new_client()
                client.on_session_change(self._on_session)
                client.login(self.handle, self.settings.BLUESKY_APP_PASSWORD, fetch_bsky_profile=False)
                self._client = client
            return self._client

    def _on_session(self, event, session) -> None:
        """The SDK's session-change callback (sign-in and each refresh): the account's DID names its repository."""
        self._did = session.did

    def _call(self, action):
        """Run `action(client)`; an access token the server calls expired is refreshed once and the call repeated."""
        client = self.client()
        try:
            return action(client)
        except atx.BadRequestError as exc:
            if _xrpc_error(exc) not in EXPIRED:
                raise
            self._renew(client)
            return action(self.client())

    def _renew(self, failed: Client) -> None:
        """Refresh the session `failed` used; when the refresh token is refused too, sign in again."""
        with self._lock:
            if self._client is not failed:
                return  # another thread already renewed it
            try:
                failed._refresh_and_set_session()
            except atx.BadRequestError as exc:
                if _xrpc_error(exc) not in EXPIRED:
                    raise
                self._client = None
        self.client()

    def send(self, message: Message) -> Receipt:
        """Create an app.bsky.feed.post record: link facets, a link card, and for a correction a reply."""
        try:
            response = self._call(lambda c: c.app.bsky.feed.post.create(self._did, self._record(c, message)))
        except pydantic.ValidationError as exc:  # the SDK's own model refused the record: nothing was sent
            raise PermanentError(f"Not a valid Bluesky post: {exc.errors()[0]['msg']}", code="invalid_record") from exc
        except (atx.AtProtocolError, httpx.HTTPError) as exc:
            raise _error(exc) from exc
        return Receipt(provider_id=response.uri)

    def _record(self, client: Client, message: Message) -> models.AppBskyFeedPost.Record:
        facets = [models.AppBskyRichtextFacet.Main(
            features=[models.AppBskyRichtextFacet.Link(uri=f.uri)],
            index=models.AppBskyRichtextFacet.ByteSlice(byte_start=f.byte_start, byte_end=f.byte_end))
            for f in link_facets(message.text)]
        embed = models.AppBskyEmbedExternal.Main(external=models.AppBskyEmbedExternal.External(
            uri=message.link, title=message.title, description=message.description)) if message.link else None
        return models.AppBskyFeedPost.Record(text=message.text, created_at=client.get_current_time_iso(),
                                             facets=facets or None, embed=embed,
                                             reply=self._reply_ref(client, message.reply_to))

    def _reply_ref(self, client: Client, uri: str) -> models.AppBskyFeedPost.ReplyRef | None:
        """Root and parent strong references for a reply to `uri`; None when that post is gone (the correction
        then goes out as a post of its own rather than a reply under a deleted one)."""
        if not uri:
            return None
        at = AtUri.from_str(uri)
        try:
            original = client.app.bsky.feed.post.get(at.hostname, at.rkey)
        except atx.BadRequestError as exc:
            if _xrpc_error(exc) == "RecordNotFound":
                return None
            raise
        parent = models.ComAtprotoRepoStrongRef.Main(uri=original.uri, cid=original.cid)
        root = original.value.reply.root if original.value.reply else parent
        return models.AppBskyFeedPost.ReplyRef(root=root, parent=parent)

    def delete(self, post_id: str) -> Receipt:
        """com.atproto.repo.deleteRecord; deleting a record that is already gone succeeds, as at the PDS."""
        at = AtUri.from_str(post_id)
        try:
            self._call(lambda c: c.app.bsky.feed.post.delete(at.hostname, at.rkey))
        except (atx.AtProtocolError, httpx.HTTPError) as exc:
            raise _error(exc) from exc
        return Receipt(provider_id=post_id, status="deleted")

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The account's recent posts (listRecords, newest first) created since a little before `since`."""
        start = since.replace(tzinfo=since.tzinfo or timezone.utc) - LOOKUP_SLACK
        try:
            listed = self._call(lambda c: c.app.bsky.feed.post.list(self._did, limit=100))
        except (atx.AtProtocolError, httpx.HTTPError) as exc:
            error = _error(exc)
            raise RetryableError(error.message, code=error.code) from exc
        for uri, record in listed.records.items():
            if _created(record.created_at) >= start and same_text(message.text, record.text):
                return Receipt(provider_id=uri)
        return None


def _created(stamp: str) -> datetime:
    """A record's createdAt as an aware time; one we cannot read counts as recent (looked at, not skipped)."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _xrpc_error(exc: atx.RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return getattr(content, "error", None) or ""


def _message(exc: atx.RequestErrorBase) -> str:
    content = exc.response.content
    return getattr(content, "message", None) or _xrpc_error(exc) or f"HTTP {exc.response.status_code}"


def _error(exc: Exception):
    """Our error kind for what the SDK raised: 429 and 5xx retryable, other answers permanent, no answer
    in doubt once the request may have left (a refused or timed-out connection is retryable)."""
    response = getattr(exc, "response", None)
    if response is None:
        cause = exc.__cause__ or exc
        kind = RetryableError if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)) \
            else InDoubtError
        if isinstance(exc, atx.LoginRequiredError):
            kind = RetryableError
        return kind(f"{type(cause).__name__}: no answer from Bluesky", code=type(cause).__name__)
    status = response.status_code
    if status == 429:
        return RetryableError(_message(exc), code=_xrpc_error(exc) or 429, retry_after=_retry_after(response.headers))
    if status >= 500:
        return RetryableError(_message(exc), code=status)
    return PermanentError(_message(exc), code=_xrpc_error(exc) or status)


def _retry_after(headers: dict) -> float | None:
    """Seconds until Bluesky's `ratelimit-reset` (an epoch time), or from `retry-after`."""
    for name, relative in (("retry-after", True), ("ratelimit-reset", False)):
        try:
            value = float(headers[name])
        except (KeyError, ValueError):
            continue
        return max(0.0, value if relative else value - time.time())
    return None
