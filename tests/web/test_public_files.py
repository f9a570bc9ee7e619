"""Pre-rendered public files: served with strong ETags and 304s, gzip, and fresh right after a publish."""
import gzip
from pathlib import Path

import feedparser
import pytest

from crisiscast.core.domain import Draft
from crisiscast.services import publishing


@pytest.fixture
def publish(publish, drain):
    """Publish to the feed through a real worker, as the console does."""

    def run(headline, incident="Fort Hood shooting response"):
        update = publish(incident=incident, er_access="open_delays", operating_status="limited", headline=headline)
        drain()
        return update

    return run


def test_feed_is_served_from_the_file_with_a_strong_etag_and_304(client, publish, settings):
    publish("ER open with delays")
    first = client.get("/feed.atom")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=10"
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    assert "Set-Cookie" not in first.headers  # served before Flask: no session
    again = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag and again.data == b""
    since = client.get("/feed.atom", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    publish("ER closed to walk-ins")
    fresh = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert feedparser.parse(fresh.data).entries[0].title == "ER closed to walk-ins"


def test_gzip_when_accepted(client, publish):
    publish("ER open with delays")
    plain = client.get("/feed.rss")
    zipped = client.get("/feed.rss", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] == plain.headers["ETag"] and zipped.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("path, kind", [("/status", "text/html"), ("/feed.json", "application/feed+json"),
                                        ("/have.xml", "application/xml"), ("/cap/index.atom", "application/atom+xml")])
def test_every_public_file_is_served_without_sign_in(client, publish, path, kind):
    publish("ER open with delays")
    response = client.get(path)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind)


def test_permalink_cap_and_incident_feed(client, publish, db):
    update = publish("ER open with delays")
    assert "ER open with delays" in client.get(f"/u/{update.uid}").get_data(as_text=True)
    assert client.get(f"/cap/{update.uid}.xml").status_code == 200
    incident_feed = client.get(f"/incidents/{update.incident.slug}/feed.atom")
    assert feedparser.parse(incident_feed.data).entries[0].title == "ER open with delays"


def test_before_anything_is_rendered_the_app_answers(client):
    page = client.get("/status")
    assert page.status_code == 200 and "No status has been published yet." in page.get_data(as_text=True)
    assert client.get("/feed.rss").status_code == 200
    assert client.get("/u/000000000000").status_code == 404


def test_retract_from_the_console_removes_it_from_the_public_feed(client, auth, publish, drain):
    update = publish("Wrong ER status")
    auth.login("author")
    from tests.conftest import csrf_token

    token = csrf_token(client, f"/updates/{update.id}")
    response = client.post(f"/updates/{update.id}/retract", data={"reason": "Sent in error", "csrf_token": token})
    assert response.status_code == 302
    drain()
    assert feedparser.parse(client.get("/feed.atom").data).entries == []
    assert 'id="retracted"' in client.get(f"/u/{update.uid}").get_data(as_text=True)
    assert client.get(f"/cap/{update.uid}-cancel.xml").status_code == 200


def test_a_configured_websub_hub_is_told_which_feeds_changed(settings, runtime, db, users, sandbox, sandbox_client):
    import config
    from crisiscast.public import site

    with_hub = config.Settings({**settings, "WEBSUB_HUB_URL": f"{sandbox.url}/websub"})
    draft = Draft(incident="Drill", er_access="open", operating_status="normal", headline="Drill", channels=("feed",))
    publishing.publish(db, draft, uid=publishing.new_uid(), author=users["author"], settings=with_hub,
                     channels=runtime.channels, enqueue=lambda *a: None)
    site.rebuild(runtime.sessions, with_hub)
    pinged = sorted(r["url"] for r in sandbox_client.accepted("websub"))
    assert pinged == [f"http://127.0.0.1:5000{p}" for p in ("/cap/index.atom", "/feed.atom", "/feed.json", "/feed.rss")]
    atom = (Path(settings["PUBLIC_DIR"]) / "feed.atom").read_text()
    assert f'<link href="{sandbox.url}/websub" rel="hub"/>' in atom


def test_an_update_sent_without_the_feed_has_its_alert_and_incident_feed_rendered_on_the_spot(
        client, db, runtime, users):
    draft = Draft(incident="Water main break", er_access="open", operating_status="limited",
                  headline="Water off in the west wing", channels=("x",))
    update = publishing.publish(db, draft, uid=publishing.new_uid(), author=users["author"], settings=runtime.settings,
                              channels=runtime.channels, enqueue=lambda *a: None).update
    alert = client.get(f"/cap/{update.uid}.xml")
    assert alert.status_code == 200 and b"Water off in the west wing" in alert.data and "ETag" not in alert.headers
    assert client.get(f"/cap/{update.uid}-cancel.xml").status_code == 404
    assert client.get("/cap/0123456789ab.xml").status_code == 404
    incident_feed = client.get(f"/incidents/{update.incident.slug}/feed.atom")
    assert incident_feed.status_code == 200 and feedparser.parse(incident_feed.data).entries == []
    assert client.get(f"/incidents/{update.incident.slug}/feed.xml").status_code == 404
    assert client.get("/incidents/no-such-incident/feed.rss").status_code == 404


def test_a_weak_if_none_match_gets_its_304(client, publish):
    publish("ER open with delays")
    etag = client.get("/feed.atom").headers["ETag"]
    again = client.get("/feed.atom", headers={"If-None-Match": f'W/{etag}'})
    assert again.status_code == 304


def test_public_pages_carry_valid_time_datetimes(client, publish):
    import re

    update = publish("ER open with delays")
    for path in ("/status", f"/u/{update.uid}"):
        stamps = re.findall(r'<time datetime="([^"]+)"', client.get(path).get_data(as_text=True))
        assert stamps and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s) for s in stamps), stamps


def test_the_cap_index_links_alerts_as_cap_and_lists_a_retraction_as_its_cancel(client, publish, db, settings):
    kept, withdrawn = publish("ER open with delays"), publish("Evacuate the north tower", incident="Fire drill")
    publishing.retract(db, withdrawn.id, "Sent in error", "author", rerender=lambda: None)
    from crisiscast.public import site

    index = feedparser.parse(site.top_level(db, settings)["cap/index.atom"])
    assert not index.bozo and index.feed.author_detail.name == "Scott & White"
    links = {e.title: (e.link, e.links[0].type) for e in index.entries}
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    assert links == {"ER open with delays": (f"{base}/cap/{kept.uid}.xml", "application/cap+xml"),
                     "Retracted: Sent in error": (f"{base}/cap/{withdrawn.uid}-cancel.xml", "application/cap+xml")}
