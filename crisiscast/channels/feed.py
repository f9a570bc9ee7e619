"""The public site: sending an update to it stores its feed entry and renders the files the update touches."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from crisiscast.channels import Channel, Message, PermanentError, Receipt
from crisiscast.public import site
from crisiscast.store.models import FeedEntry, Update


class FeedChannel(Channel):
    """Our own RSS/Atom feeds; the entry's id is the update's permalink, fixed when first sent."""

    name = "feed"
    label = "RSS/Atom feed"

    def __init__(self, settings, sessions):
        super().__init__(settings)
        self.sessions = sessions

    def send(self, message: Message) -> Receipt:
        with self.sessions() as session, session.begin():
            update = session.scalar(select(Update).where(Update.uid == message.uid))
            if update is None:
                raise PermanentError(f"no update with uid {message.uid}", code="unknown_update")
            entry = session.scalar(select(FeedEntry).where(FeedEntry.update_id == update.id))
            if entry is None:
                entry = FeedEntry(update_id=update.id, guid=message.link, title=message.title,
                                  content=message.text, link=message.link, published_at=update.published_at)
                session.add(entry)
            guid, update_id = entry.guid, update.id
        site.publish(self.sessions, self.settings, update_id)
        return Receipt(provider_id=guid)

    def find(self, message: Message, since: datetime) -> Receipt | None:
        with self.sessions() as session:
            guid = session.scalar(select(FeedEntry.guid).join(Update, Update.id == FeedEntry.update_id)
                                  .where(Update.uid == message.uid))
        return Receipt(provider_id=guid) if guid else None

    def describe(self, message: Message | None = None) -> str:
        return "public RSS/Atom feeds"
