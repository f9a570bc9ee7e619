"""Posts to a Bluesky account through the AT Protocol (the atproto SDK), signed in with an app password.

The SDK itself is reached through crisiscast.channels.bluesky_account, imported on first use (or by a worker's
prepare): its models take seconds to import, which the console, which only asks whether the channel is
configured and what it targets, should not pay.
"""
from __future__ import annotations

import threading
from datetime import datetime

from crisiscast.channels import Channel, Message, Receipt


class BlueskyChannel(Channel):
    """The hospital's Bluesky account."""

    name = "bluesky"
    label = "Bluesky"
    base_setting = "BLUESKY_PDS_URL"
    required_settings = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD")

    def __init__(self, settings):
        super().__init__(settings)
        self._account = None
        self._lock = threading.Lock()

    def account(self):
        """The account's SDK side (one session for this process), built on first use."""
        with self._lock:
            if self._account is None:
                from crisiscast.channels.bluesky_account import BlueskyAccount

                self._account = BlueskyAccount(self.settings, self.handle())
            return self._account

    def prepare(self) -> None:
        """Import the SDK now; signing in waits for the first send (each sign-in spends Bluesky's createSession)."""
        self.account()

    def handle(self) -> str:
        return self.settings.BLUESKY_HANDLE.lstrip("@")

    def secrets(self):
        return (self.settings.BLUESKY_APP_PASSWORD,)

    def send(self, message: Message) -> Receipt:
        """An app.bsky.feed.post: link facets, a link card, and for a correction a reply under the original."""
        return self.account().send(message)

    def delete(self, post_id: str) -> Receipt:
        """com.atproto.repo.deleteRecord; deleting a record that is already gone succeeds, as at the PDS."""
        return self.account().delete(post_id)

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The account's recent posts (listRecords, newest first) created since a little before `since`."""
        return self.account().find(message, since)

    def describe(self, message: Message | None = None) -> str:
        handle = self.handle() or "account"
        return handle if handle.startswith("did:") else f"@{handle}"
