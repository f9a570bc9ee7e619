"""RSS, Atom and JSON Feed: newest first, stable ids, corrections as updates of the same entry, retractions gone."""
import json

import feedparser
import lxml.html
import pytest
from lxml import etree

from crisiscast.public import feeds
from crisiscast.sending.delivery import deliver
from crisiscast.services import publishing


@pytest.fixture
def publish(runtime, publish):
    """Publish to the feed and send it; returns the update."""

    def run(headline, body="", corrects="", incident="Fort Hood"):
        update = publish(incident=incident, headline=headline, body=body, corrects=corrects, queued=False)
        deliver(runtime.delivery_context(), update.deliveries[0].id)
        return update

    return run


@pytest.fixture
def three(publish):
    return [publish("ER open", "Update 0 <script>alert(1)</script>"),
            publish("Blood donors needed <O-negative> & AB", "Update 1 <script>alert(1)</script>"),
            publish("ER closed to walk-ins", "Update 2 <script>alert(1)</script>")]


@pytest.mark.parametrize("build", [feeds.rss, feeds.atom])
def test_feeds_list_stories_newest_first_with_permalinks(db, settings, three, build):
    parsed = feedparser.parse(build(settings, feeds.stories(db), "Status"))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == ["ER closed to walk-ins", "Blood donors needed <O-negative> & AB",
                                                 "ER open"]
    assert [e.link for e in parsed.entries] == [f"http://127.0.0.1:5000/u/{u.uid}" for u in reversed(three)]
    assert [e.id for e in parsed.entries] == [e.link for e in parsed.entries]
    detail = parsed.entries[0].get("summary_detail") or parsed.entries[0].content[0]
    # Shown as the text that was typed: escaped inside RSS's HTML, or plain text.
    assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in detail.value if detail.type == "text/html"
            else detail.type == "text/plain" and "<script>alert(1)</script>" in detail.value)


def test_atom_entry_links_keep_rel_and_type(db, settings, three):
    xml = feeds.atom(settings, feeds.stories(db), "Status").decode()
    assert xml.count('rel="alternate" type="text/html"') == 4
    assert "&lt;script&gt;" in xml


def test_json_feed_1_1_has_its_required_fields_in_order(db, settings, three):
    """feedparser 6.0 reads no JSON Feed, so the spec's requirements are checked here."""
    feed = json.loads(feeds.json_feed(settings, feeds.stories(db), "Status"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and feed["title"] == "Status"
    assert feed["feed_url"] == "http://127.0.0.1:5000/feed.json"
    assert [i["id"] for i in feed["items"]] == [f"http://127.0.0.1:5000/u/{u.uid}" for u in reversed(three)]
    assert all(isinstance(i["id"], str) and i["content_text"] for i in feed["items"])
    assert feed["items"][0]["content_text"].endswith("Update 2 <script>alert(1)</script>")
    assert feed["items"][0]["date_published"].endswith("+00:00")


def test_a_correction_updates_the_same_entry(db, settings, three, publish):
    fix = publish("ER open (not closed)", corrects=three[2].uid)
    parsed = feedparser.parse(feeds.atom(settings, feeds.stories(db), "Status"))
    assert len(parsed.entries) == 3
    top = parsed.entries[0]
    assert top.id == f"http://127.0.0.1:5000/u/{three[2].uid}" and top.title == "Correction: ER open (not closed)"
    assert top.updated > top.published
    assert fix.story_uid == three[2].uid


def test_a_retracted_story_leaves_the_feeds(db, settings, runtime, three):
    publishing.retract(db, three[1].id, "Sent in error", "author", rerender=lambda: None)
    titles = [s.latest.headline for s in feeds.stories(db)]
    assert titles == ["ER closed to walk-ins", "ER open"]


def test_rss_content_encoded_shows_the_text_as_typed_to_a_feed_reader(db, settings, publish):
    """Readers render content:encoded as HTML: markup in the text must stay text, and its line breaks show."""
    publish("Visitors", "Line one <script>alert(1)</script>\nLine two & <b>three</b>")
    root = etree.fromstring(feeds.rss(settings, feeds.stories(db), "Status"))
    encoded = root.findtext("channel/item/{http://purl.org/rss/1.0/modules/content/}encoded")
    shown = lxml.html.fragment_fromstring(encoded, create_parent="div")
    assert not shown.xpath("//script | //b"), encoded  # no live markup of the author's
    assert len(shown.xpath("//br")) >= 3  # the blank line after the statuses, and the body's own break
    assert "Line one <script>alert(1)</script>" in shown.text_content()
    assert shown.text_content().endswith("Line two & <b>three</b>")
    raw = feedparser.parse(feeds.rss(settings, feeds.stories(db), "Status"), sanitize_html=False)
    seen = raw.entries[0].content[0]  # what feedparser hands a reader, unsanitised
    assert seen.type == "text/html" and "<script>" not in seen.value and seen.value.count("<br") >= 3


def test_atom_feeds_name_their_author_and_rss_links_point_at_the_site_and_itself(db, settings, three):
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    atom = feedparser.parse(feeds.atom(settings, feeds.stories(db), "Status"))
    assert not atom.bozo and atom.feed.author_detail.name == "Scott & White"
    rss = etree.fromstring(feeds.rss(settings, feeds.stories(db), "Status"))
    assert rss.findtext("channel/link") == f"{base}/"
    self_link = rss.find(f"channel/{{{feeds.ATOM}}}link[@rel='self']")
    assert (self_link.get("href"), self_link.get("type")) == (f"{base}/feed.rss", "application/rss+xml")


def test_incident_slugs_keep_accented_letters_readable():
    assert publishing.slugify("Tormenta: inundación río") == "tormenta-inundacion-rio"
    assert publishing.slugify("Ärzte — Notaufnahme geschlossen") == "arzte-notaufnahme-geschlossen"
    assert publishing.slugify("避難") == "incident"
