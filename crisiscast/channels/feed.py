"""The public site: sending an update to it stores its feed entry and renders the files the update touches."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from crisiscast.channels import Channel, Message, PermanentError, Receipt
from crisiscast.public import isolation, site
from crisiscast.store.models import FeedEntry, Update


class FeedChannel(Channel):
    """Our own RSS/Atom feeds; the entry's id is the update's permalink, fixed when first sent."""

    name = "feed"
    label = "RSS/Atom feed"

    def __init__(self, settings, sessions):
        super().__init__(settings)
        self.sessions = sessions

    def send(self, message: Message) -> Receipt:
        """Store the entry and write the files that carry it; sent only once they are written."""
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
        problems: dict[int, str] = {}
        site.publish(self.sessions, self.settings, update_id, problems)
        if update_id in problems:
            self._withdraw(update_id)
            raise PermanentError(" ".join(isolation.describe({update_id: problems[update_id]})), code="render_failed")
        return Receipt(provider_id=guid)

    def _withdraw(self, update_id: int) -> None:
        """Take an entry that cannot be rendered out of the feeds, so its story shows as it stood before."""
        with self.sessions() as session, session.begin():
            session.execute(delete(FeedEntry).where(FeedEntry.update_id == update_id))
        site.publish(self.sessions, self.settings, update_id)

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """Never found: a stored entry does not say its files were written, and sending again only writes
        the same files, so the reconciler always sends a feed delivery in doubt again."""
        return None

    def describe(self, message: Message | None = None) -> str:
        return "public RSS/Atom feeds"
