"""Posts to an X account through the v2 API (tweepy.Client with OAuth 1.0a user context)."""
from __future__ import annotations

from datetime import datetime

import requests
import tweepy

from crisiscast.channels import LOOKUP_SLACK, Channel, Message, PermanentError, Receipt, RetryableError, same_text
from crisiscast.channels.transport import lookup_error, mount, retry_after_seconds, transport_error

X_REAL_BASE = "https://api.twitter.com"


class XChannel(Channel):
    """The hospital's X account."""

    name = "x"
    label = "X"
    base_setting = "X_API_BASE"
    required_settings = ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")

    def __init__(self, settings):
        super().__init__(settings)
        self._client = None
        self._adapter = None

    def client(self) -> tweepy.Client:
        """The tweepy client, sending through our transport adapter (tweepy sets no timeout itself)."""
        if self._client is None:
            s = self.settings
            client = tweepy.Client(consumer_key=s.X_CONSUMER_KEY, consumer_secret=s.X_CONSUMER_SECRET,
                                   access_token=s.X_ACCESS_TOKEN, access_token_secret=s.X_ACCESS_TOKEN_SECRET,
                                   wait_on_rate_limit=False)
            self._adapter = mount(client.session, X_REAL_BASE, self.endpoint(), float(s.PROVIDER_TIMEOUT))
            self._client = client
        return self._client

    def secrets(self):
        s = self.settings
        return (s.get("X_CONSUMER_SECRET", ""), s.get("X_ACCESS_TOKEN", ""), s.get("X_ACCESS_TOKEN_SECRET", ""))

    def send(self, message: Message) -> Receipt:
        try:
            response = self.client().create_tweet(text=message.text, in_reply_to_tweet_id=message.reply_to or None,
                                                  user_auth=True)
        except (tweepy.HTTPException, requests.RequestException) as exc:
            raise self._error(exc) from exc
        return Receipt(provider_id=str(response.data["id"]))

    def delete(self, post_id: str) -> Receipt:
        """DELETE /2/tweets/:id; X answers deleted: false for a post that is already gone, which is fine."""
        try:
            response = self.client().delete_tweet(post_id, user_auth=True)
        except (tweepy.HTTPException, requests.RequestException) as exc:
            raise self._error(exc) from exc
        return Receipt(provider_id=post_id, status="deleted" if response.data.get("deleted") else "already gone")

    def _error(self, exc: Exception) -> Exception:
        """Our error kind for what tweepy or the transport raised."""
        if isinstance(exc, tweepy.TooManyRequests):
            wait = retry_after_seconds(self._adapter.last_rate_limit_headers())
            return RetryableError(_describe(exc), code=429, retry_after=wait)
        if isinstance(exc, tweepy.TwitterServerError):
            return RetryableError(_describe(exc), code=exc.response.status_code)
        if isinstance(exc, tweepy.HTTPException):
            return PermanentError(_describe(exc), code=exc.response.status_code)
        return transport_error(exc)

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The account's recent posts (since a little before `since`) with our text."""
        try:
            me = self.client().get_me(user_auth=True)
            posts = self.client().get_users_tweets(me.data["id"], start_time=since - LOOKUP_SLACK, max_results=100,
                                                   user_auth=True)
        except tweepy.HTTPException as exc:
            raise RetryableError(_describe(exc), code=exc.response.status_code) from exc
        except requests.RequestException as exc:
            raise lookup_error(exc) from exc
        for post in posts.data or []:
            if same_text(message.text, post["text"]):
                return Receipt(provider_id=str(post["id"]))
        return None

    def describe(self, message: Message | None = None) -> str:
        handle = self.settings.X_HANDLE or "account"
        return handle if handle.startswith("@") else f"@{handle}"


def _describe(exc: tweepy.HTTPException) -> str:
    messages = [m for m in exc.api_messages if m]
    return "; ".join(messages) or f"HTTP {exc.response.status_code} {exc.response.reason}"
