"""The public record: stories (an update and its corrections), and the RSS, Atom and JSON feeds of them.

A story's feed entry keeps the id of its first version and shows its latest one, so a correction reaches
readers as an update of the same entry. A retracted story leaves every current view. Only public updates
are part of the record (crisiscast.core.audience): an internal one is in no query here, so it can neither
show, nor be referenced by, nor withdraw a public story.
"""
from __future__ import annotations

import html
import itertools
import json
from dataclasses import dataclass

from feedgen.feed import FeedGenerator
from lxml import etree
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from crisiscast.core import promise
from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.core.text import clean
from crisiscast.store.models import FeedEntry, Incident, Update, utcnow
from crisiscast.store.queries import has_public_update, is_public

FEED_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"


@dataclass(frozen=True)
class Story:
    """One story as readers see it: its first version's id and time, its latest version's words."""

    first: Update
    latest: Update
    versions: tuple[Update, ...]
    first_entry: FeedEntry

    @property
    def guid(self) -> str:
        """The first version's permalink, fixed when it first went out: the story's id in every feed."""
        return self.first_entry.guid

    @property
    def corrected(self) -> bool:
        return len(self.versions) > 1


def stories(session: Session, incident_id: int | None = None, limit: int = FEED_SIZE) -> list[Story]:
    """Current stories, newest change first: only versions that reached the feed, none retracted."""
    keys = current_keys(session, incident_id, limit)
    stmt = (select(Update, FeedEntry).join(FeedEntry, FeedEntry.update_id == Update.id)
            .where(in_stories(keys), is_public()).order_by(Update.published_at, Update.id))
    if incident_id is not None:
        stmt = stmt.where(Update.incident_id == incident_id)
    by_story: dict[str, list[tuple[Update, FeedEntry]]] = {}
    for update, entry in session.execute(stmt).all() if keys else ():
        by_story.setdefault(update.story_uid or update.uid, []).append((update, entry))
    result = [Story(v[0][0], v[-1][0], tuple(u for u, _ in v), v[0][1]) for v in by_story.values()]
    result.sort(key=lambda s: (s.latest.published_at, s.latest.id), reverse=True)
    return result


def story_key():
    """A story's key in SQL: its first version's uid (older rows left story_uid empty on the first version)."""
    return func.coalesce(Update.story_uid, Update.uid)


def current_keys(session: Session, incident_id: int | None = None, limit: int = FEED_SIZE,
                 feed: bool = True, withdrawn_too: bool = False) -> list[str]:
    """The keys of the `limit` stories changed last with no retracted version (of those in the feed; retracted
    ones too with `withdrawn_too`), newest first. Read a page of versions at a time from the newest, so a long
    history is never scanned."""
    def scoped(stmt):
        stmt = stmt.where(is_public())
        stmt = stmt.join(FeedEntry, FeedEntry.update_id == Update.id) if feed else stmt
        return stmt if incident_id is None else stmt.where(Update.incident_id == incident_id)

    keys: list[str] = []
    seen: set[str] = set()
    page = 2 * limit
    for offset in itertools.count(0, page):
        rows = session.scalars(scoped(select(story_key())).order_by(Update.published_at.desc(), Update.id.desc())
                               .offset(offset).limit(page)).all()
        fresh = [key for key in dict.fromkeys(rows) if key not in seen]
        seen.update(fresh)
        withdrawn = set(session.scalars(scoped(select(story_key())).where(
            in_stories(fresh), Update.retracted_at.is_not(None)))) if fresh and not withdrawn_too else set()
        keys += [key for key in fresh if key not in withdrawn]
        if len(keys) >= limit or len(rows) < page:
            return keys[:limit]


def in_stories(keys: list[str]):
    """A condition matching every version of the stories `keys`, written so the indexes serve it."""
    return or_(Update.story_uid.in_(keys), and_(Update.story_uid.is_(None), Update.uid.in_(keys)))


def versions(session: Session, update: Update) -> list[Update]:
    """Every public version of `update`'s story, the first first, whether or not it reached the feed."""
    return list(session.scalars(select(Update).where(in_stories([update.story_uid or update.uid]), is_public())
                                .order_by(Update.published_at, Update.id)))


def summary(update: Update, zone_name: str = "UTC") -> str:
    """The entry's text: the statuses, the body and the promised next update (in the hospital's zone), without
    what XML cannot carry (rows stored before text was cleaned at the edge may hold it)."""
    text = f"ER: {ER_ACCESS[update.er_access]}. Hospital: {OPERATING_STATUS[update.operating_status]}."
    promised = promise.for_update(update, zone_name)
    return clean(text + "".join(f"\n\n{p}" for p in (update.body, promised) if p))


def entry_title(story: Story) -> str:
    return clean(("Correction: " if story.corrected else "") + story.latest.headline)


def _generator(settings, items: list[Story], title: str, path: str) -> FeedGenerator:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    fg = FeedGenerator()
    fg.id(f"{base}{path}.atom")
    fg.title(clean(title))
    fg.subtitle("ER access, hospital operating status and news, as published by our communications team.")
    fg.link(href=f"{base}/", rel="alternate", type="text/html")
    fg.link(href=f"{base}{path}.atom", rel="self", type="application/atom+xml")
    if settings.WEBSUB_HUB_URL:
        fg.link(href=settings.WEBSUB_HUB_URL, rel="hub")
    fg.language("en")
    fg.author({"name": settings.ORG_NAME, "uri": f"{base}/"})  # RFC 4287: a feed without entry authors needs one
    fg.updated(items[0].latest.published_at if items else utcnow())
    # feedgen prepends each entry it adds; adding oldest first leaves the newest on top in both formats.
    for story in reversed(items):
        fe = fg.add_entry(order="prepend")
        fe.id(story.guid)
        fe.guid(story.guid, permalink=True)
        fe.title(entry_title(story))
        fe.link(href=story.guid, rel="alternate", type="text/html")
        fe.published(story.first.published_at)
        fe.updated(story.latest.published_at)
        fe.description(as_html(summary(story.latest, settings.TIMEZONE)))
        fe.content(summary(story.latest, settings.TIMEZONE), type="text")
    return fg


def as_html(text: str) -> str:
    """`text` as HTML that shows it as typed: markup escaped, line breaks as <br>."""
    return html.escape(text).replace("\n", "<br>\n")


def rss(settings, items: list[Story], title: str, path: str = "/feed") -> bytes:
    """RSS 2.0. Readers take description and content:encoded as HTML, so both carry the text escaped; feedgen
    writes the entry's content (plain text, right for Atom) into content:encoded as it is."""
    root = etree.fromstring(_generator(settings, items, title, path).rss_str())
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    # feedgen takes both from the Atom feed's links: the channel's link is the site, its self link this feed.
    root.find("channel/link").text = f"{base}/"
    self_link = root.find(f"channel/{{{ATOM}}}link[@rel='self']")
    self_link.set("href", f"{base}{path}.rss")
    self_link.set("type", "application/rss+xml")
    for item in root.iterfind("channel/item"):
        item.find(f"{{{CONTENT}}}encoded").text = item.findtext("description")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def atom(settings, items: list[Story], title: str, path: str = "/feed") -> bytes:
    """The Atom feed; each entry's link gets back the rel and type that feedgen 1.0 drops when it writes them."""
    root = etree.fromstring(_generator(settings, items, title, path).atom_str())
    for link in root.iterfind(f"{{{ATOM}}}entry/{{{ATOM}}}link"):
        link.set("rel", "alternate")
        link.set("type", "text/html")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def json_feed(settings, items: list[Story], title: str, path: str = "/feed") -> bytes:
    """JSON Feed 1.1."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    feed = {
        "version": "https://jsonfeed.org/version/1.1", "title": clean(title), "home_page_url": f"{base}/",
        "feed_url": f"{base}{path}.json", "language": "en",
        "items": [{"id": s.guid, "url": s.guid,
                   "title": entry_title(s),
                   "content_text": summary(s.latest, settings.TIMEZONE), "date_published": s.first.published_at.isoformat(),
                   "date_modified": s.latest.published_at.isoformat()} for s in items],
    }
    if settings.WEBSUB_HUB_URL:
        feed["hubs"] = [{"type": "WebSub", "url": settings.WEBSUB_HUB_URL}]
    return json.dumps(feed, ensure_ascii=False, indent=1).encode()


def incidents(session: Session) -> list[Incident]:
    """The incidents the public may know of: those with at least one public update, newest first."""
    return list(session.scalars(select(Incident).where(has_public_update()).order_by(Incident.created_at.desc())))

