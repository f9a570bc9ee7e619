"""RSS and Atom: newest first, stable ids, links to each update's public page, parsed cleanly by feedparser."""
import feedparser
import pytest
from sqlalchemy import select

from crisiscast import feeds, services
from crisiscast.delivery import deliver
from crisiscast.domain import Draft
from crisiscast.models import Update


@pytest.fixture
def published(db, runtime, users):
    """Publish three updates to the feed, oldest first, and send their feed deliveries."""
    uids = []
    for n, headline in enumerate(["ER open", "Blood donors needed <O-negative> & AB", "ER closed to walk-ins"]):
        draft = Draft(incident="Fort Hood", er_access="open", operating_status="normal", headline=headline,
                      body=f"Update {n} <script>alert(1)</script>", channels=("feed",))
        result = services.publish(db, draft, uid=services.new_uid(), author=users["author"],
                                  settings=runtime.settings, channels=runtime.channels, enqueue=lambda *a: None)
        deliver(runtime.sessions, runtime.channels, result.update.deliveries[0].id, runtime.retry_policy)
        uids.append(result.update.uid)
    return uids


@pytest.mark.parametrize("build", [feeds.rss, feeds.atom])
def test_feed_lists_updates_newest_first_with_permalinks(db, settings, published, build):
    parsed = feedparser.parse(build(db, settings))
    assert not parsed.bozo, parsed.bozo_exception
    assert [e.title for e in parsed.entries] == ["ER closed to walk-ins", "Blood donors needed <O-negative> & AB",
                                                 "ER open"]
    assert [e.link for e in parsed.entries] == [f"http://127.0.0.1:5000/u/{uid}" for uid in reversed(published)]
    assert [e.id for e in parsed.entries] == [e.link for e in parsed.entries]
    detail = parsed.entries[0].get("summary_detail") or parsed.entries[0].content[0]
    # Shown as the text that was typed: escaped inside RSS's HTML, or Atom plain text.
    assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in detail.value if detail.type == "text/html"
            else detail.type == "text/plain" and "<script>alert(1)</script>" in detail.value)


def test_atom_entry_links_keep_rel_and_type(db, settings, published):
    xml = feeds.atom(db, settings).decode()
    assert xml.count('rel="alternate" type="text/html"') == 4
    assert "&lt;script&gt;" in xml


def test_public_page_and_feeds_need_no_sign_in_and_escape_text(client, db, published):
    for path in ("/feed.rss", "/feed.atom"):
        response = client.get(path)
        assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    update = db.scalar(select(Update).where(Update.uid == published[1]))
    page = client.get(f"/u/{update.uid}").get_data(as_text=True)
    assert "Blood donors needed &lt;O-negative&gt; &amp; AB" in page
    assert "<script>alert(1)</script>" not in page
    assert client.get("/u/000000000000").status_code == 404
