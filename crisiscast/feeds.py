"""RSS 2.0 and Atom feeds of published updates, built with feedgen from the stored feed entries."""
from __future__ import annotations

import html

from feedgen.feed import FeedGenerator
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import FeedEntry, utcnow

FEED_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"


def build(session: Session, settings) -> FeedGenerator:
    """A feed of the newest entries, newest first."""
    base = settings["PUBLIC_BASE_URL"].rstrip("/")
    entries = session.scalars(select(FeedEntry).order_by(FeedEntry.published_at.desc(), FeedEntry.id.desc())
                              .limit(FEED_SIZE)).all()
    fg = FeedGenerator()
    fg.id(f"{base}/feed.atom")
    fg.title(f"{settings['ORG_NAME']}: status updates")
    fg.subtitle("ER access, hospital operating status and news, as published by our communications team.")
    fg.link(href=f"{base}/", rel="alternate", type="text/html")
    fg.link(href=f"{base}/feed.atom", rel="self", type="application/atom+xml")
    fg.language("en")
    fg.updated(entries[0].published_at if entries else utcnow())
    # feedgen prepends each entry it adds; adding oldest first leaves the newest on top in both formats.
    for entry in reversed(entries):
        fe = fg.add_entry(order="prepend")
        fe.id(entry.guid)
        fe.guid(entry.guid, permalink=entry.guid.startswith("http"))
        fe.title(entry.title)
        fe.link(href=entry.link, rel="alternate", type="text/html")
        fe.published(entry.published_at)
        fe.updated(entry.published_at)
        # RSS readers take a description as HTML: escape it so the text shows as typed, never as markup.
        fe.description(html.escape(entry.content).replace("\n", "<br>\n"))
        fe.content(entry.content, type="text")
    return fg


def rss(session: Session, settings) -> bytes:
    return build(session, settings).rss_str(pretty=True)


def atom(session: Session, settings) -> bytes:
    """The Atom feed; each entry's link gets back the rel and type that feedgen 1.0 drops when it writes them."""
    root = etree.fromstring(build(session, settings).atom_str())
    for link in root.iterfind(f"{{{ATOM}}}entry/{{{ATOM}}}link"):
        link.set("rel", "alternate")
        link.set("type", "text/html")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
