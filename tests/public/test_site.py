"""The pre-rendered public site: status page, CAP 1.2 (valid against the OASIS schema), EDXL-HAVE, escaping."""
import re
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree
from sqlalchemy import event, select
from sqlalchemy import update as sql_update

from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.public import feeds, site
from crisiscast.sending.delivery import deliver
from crisiscast.services import publishing
from crisiscast.store import bulk
from crisiscast.store.models import FeedEntry, Incident, Update, utcnow

SPECS = Path(__file__).resolve().parents[1] / "specs"  # vendored, so the schema tests always run
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture(scope="module")
def cap_schema():
    return etree.XMLSchema(etree.parse(str(SPECS / "CAP-v1.2.xsd")))


@pytest.fixture
def publish(db, runtime, publish):
    """Publish to the feed and send it in this process (after writing `poison` into its row); return the update."""

    def run(headline="ER open", er="open", status="normal", body="", corrects="", next_update_at=None, poison=None):
        update = publish(incident="Fort Hood shooting response", er_access=er, operating_status=status,
                         headline=headline, body=body, corrects=corrects, next_update_at=next_update_at, queued=False)
        if poison:  # written straight to the row, as rows stored before text was cleaned at the edge
            db.execute(sql_update(Update).where(Update.id == update.id).values(**poison))
            db.commit()
        deliver(runtime.delivery_context(), update.deliveries[0].id)
        db.refresh(update)
        return update

    return run


def files(db, settings):
    return site.build(db, settings)


def test_every_cap_alert_validates_and_updates_and_cancels_reference_the_story(db, settings, publish, cap_schema):
    first = publish("ER on diversion", er="diversion", status="lockdown")
    fix = publish("ER on diversion until 18:00", er="diversion", status="lockdown", corrects=first.uid)
    before = {name: etree.fromstring(body) for name, body in files(db, settings).items()
              if name.startswith("cap/") and name.endswith(".xml")}
    assert set(before) == {f"cap/{first.uid}.xml", f"cap/{fix.uid}.xml"}
    original, update = before[f"cap/{first.uid}.xml"], before[f"cap/{fix.uid}.xml"]
    assert original.findtext(f"{CAP}msgType") == "Alert" and original.find(f"{CAP}references") is None
    assert update.findtext(f"{CAP}msgType") == "Update"
    first_ref = f"{original.findtext(f'{CAP}sender')},{original.findtext(f'{CAP}identifier')}," \
                f"{original.findtext(f'{CAP}sent')}"
    assert update.findtext(f"{CAP}references") == first_ref
    info = original.find(f"{CAP}info")
    assert (info.findtext(f"{CAP}category"), info.findtext(f"{CAP}severity"), info.findtext(f"{CAP}urgency")) == (
        "Health", "Severe", "Immediate")

    publishing.retract(db, fix.id, "Superseded by the all-clear", "author", rerender=lambda: None)
    built = files(db, settings)
    alerts = {name: etree.fromstring(body) for name, body in built.items() if name.startswith("cap/")
              and name.endswith(".xml")}
    assert set(alerts) == {f"cap/{first.uid}.xml", f"cap/{fix.uid}.xml", f"cap/{fix.uid}-cancel.xml"}
    for name, alert in alerts.items():
        assert cap_schema.validate(alert), (name, cap_schema.error_log)
    cancel = alerts[f"cap/{fix.uid}-cancel.xml"]
    assert cancel.findtext(f"{CAP}msgType") == "Cancel" and cancel.find(f"{CAP}info") is None
    assert cancel.findtext(f"{CAP}note") == "Retracted: Superseded by the all-clear"
    refs = cancel.findtext(f"{CAP}references").split(" ")
    assert refs[0] == first_ref and refs[1].split(",")[1] == update.findtext(f"{CAP}identifier")
    # Each version's alert address now answers with the Cancel: the withdrawn words are in no file.
    assert built[f"cap/{first.uid}.xml"] == built[f"cap/{fix.uid}.xml"] == built[f"cap/{fix.uid}-cancel.xml"]
    index = feedparser.parse(built["cap/index.atom"])
    assert not index.bozo and [e.link for e in index.entries] == [
        f"{settings.PUBLIC_BASE_URL.rstrip('/')}/cap/{fix.uid}-cancel.xml"]  # the retracted story, as its Cancel


def test_a_retracted_storys_words_are_in_no_public_file(db, settings, publish):
    first = publish("Evacuate the north tower now", er="closed", status="evacuating")
    fix = publish("Evacuate the north tower by 18:00", er="closed", status="evacuating", corrects=first.uid)
    publishing.retract(db, fix.id, "Sent in error", "author", rerender=lambda: None)
    built = files(db, settings)
    assert not [name for name, body in built.items() if b"north tower" in body]
    for uid in (first.uid, fix.uid):
        page = built[f"u/{uid}.html"].decode() if f"u/{uid}.html" in built else built[f"u/{uid}/index.html"].decode()
        assert "This update was retracted" in page and "Sent in error" in page and "Evacuating" not in page


def test_have_reports_ems_traffic_facility_and_security(db, settings, publish):
    publish("Diversion", er="diversion", status="lockdown")
    have = etree.fromstring(files(db, settings)["have.xml"])
    ns = {"h": "urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"}
    assert have.findtext(".//h:EMSTrafficStatus", namespaces=ns) == "Closed"
    assert have.findtext(".//h:EMSTrafficReason", namespaces=ns) == "On ambulance diversion"
    assert have.findtext(".//h:FacilityStatus", namespaces=ns) == "Compromised"
    assert have.findtext(".//h:SecurityStatus", namespaces=ns) == "Lockdown"


@pytest.mark.parametrize("er", list(ER_ACCESS))
@pytest.mark.parametrize("status", list(OPERATING_STATUS))
def test_status_page_shows_each_combination(db, settings, publish, er, status):
    promised = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=30)
    publish("Status", er=er, status=status, next_update_at=promised)
    page = site.status_page(db, settings).decode()
    er_box = page[page.index('id="er-access"'):page.index('id="operating-status"')]
    assert f"<strong>{ER_ACCESS[er]}</strong>" in er_box
    assert f"<strong>{OPERATING_STATUS[status]}</strong>" in page[page.index('id="operating-status"'):]
    assert re.search(rf"<strong>Next update by (\w{{3}} )?{promised:%H:%M} UTC\.</strong>", page)


def test_script_and_ampersand_are_escaped_in_every_page_and_feed(db, settings, publish):
    publish("Donors <script>alert(1)</script> & more", body="Call 911 & <b>now</b>")
    for name, body in files(db, settings).items():
        text = body.decode()
        assert "<script>alert(1)</script>" not in text or name.endswith(".json"), name
        assert "& more" not in text.replace("&amp; more", "") or name.endswith(".json"), name
        if name.endswith((".xml", ".atom", ".rss")):
            etree.fromstring(body)  # well-formed


def test_status_page_needs_no_script_font_or_cdn(db, settings, publish):
    publish()
    page = site.status_page(db, settings).decode()
    assert "<script" not in page and "http" not in page.replace(settings["PUBLIC_BASE_URL"], "")


def test_timeline_is_newest_first_and_retracted_ones_leave_it(db, settings, publish):
    publish("First")
    second = publish("Second")
    publish("Third")
    publishing.retract(db, second.id, "Wrong", "author", rerender=lambda: None)
    page = site.status_page(db, settings).decode()
    assert page.index("Third") < page.index("First") and "Second" not in page
    retracted = site.update_page(db, settings, second).decode()
    assert 'id="retracted"' in retracted and "Wrong" in retracted


def test_write_is_atomic_and_keeps_a_gzip_twin(tmp_path):
    import gzip

    assert site.write({"feed.rss": b"<rss/>"}, tmp_path) == 1
    assert site.write({"feed.rss": b"<rss/>"}, tmp_path) == 0
    assert gzip.decompress((tmp_path / "feed.rss.gz").read_bytes()) == b"<rss/>"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_incremental_renders_equal_a_full_rebuild_file_by_file(db, settings, runtime, publish, tmp_path):
    """Publish, correct and retract through the services and the feed channel; then rebuild from scratch."""
    first = publish("ER on diversion", er="diversion", status="lockdown")
    fix = publish("ER on diversion until 18:00", er="diversion", corrects=first.uid)
    other = publish("Blood donors needed")
    again = publish("Blood donors: O-negative", corrects=other.uid)
    kept = publish("Visiting hours resume")
    publishing.retract(db, again.id, "Sent in error", "author",
                     rerender=lambda: site.publish(runtime.sessions, settings, again.id))
    # Retracting a version that was already corrected withdraws its whole story; the Cancel is the latest's.
    publishing.retract(db, first.id, "Wrong hospital", "author",
                     rerender=lambda: site.publish(runtime.sessions, settings, first.id))
    full = settings.replace(PUBLIC_DIR=str(tmp_path / "full"))
    site.rebuild(runtime.sessions, full)
    incremental, rebuilt = tree(Path(settings["PUBLIC_DIR"])), tree(tmp_path / "full")
    assert sorted(incremental) == sorted(rebuilt)
    assert [name for name in rebuilt if incremental[name] != rebuilt[name]] == []
    assert {f"cap/{fix.uid}-cancel.xml", f"cap/{again.uid}-cancel.xml", f"u/{kept.uid}.html.gz"} <= set(rebuilt)
    assert b"Wrong hospital" in rebuilt[f"cap/{fix.uid}-cancel.xml"]
    assert [e.title for e in feedparser.parse(rebuilt["feed.atom"]).entries] == ["Visiting hours resume"]


def test_a_publish_renders_only_its_story_its_incident_and_the_top_level(db, settings, runtime, publish):
    publish("Drill one")
    second = publish("Drill two")
    files = site.touched(db, settings, second)
    story = {f"u/{second.uid}.html", f"cap/{second.uid}.xml"}
    top = {"index.html", "have.xml", "cap/index.atom"} | {f"feed.{k}" for k in ("rss", "atom", "json")}
    incident = {f"incidents/{second.incident.slug}/feed.{k}" for k in ("rss", "atom", "json")}
    assert set(files) == story | top | incident


def test_feeds_load_current_stories_only(db, settings, runtime, publish, users):
    """However long the history, a render loads the stories its feeds show (FEED_SIZE) and the touched one."""
    history = 2 * feeds.FEED_SIZE + 10
    insert_history(db, users["author"], history)
    latest = publish("After a long history")
    loaded = set()

    def count(update, _context):
        loaded.add(update.id)

    event.listen(Update, "load", count)
    try:
        with runtime.sessions() as session:
            site.touched(session, settings, session.get(Update, latest.id))
    finally:
        event.remove(Update, "load", count)
    assert feeds.FEED_SIZE <= len(loaded) <= 2 * feeds.FEED_SIZE + 1 < history


def test_the_feed_limit_counts_current_stories_newest_first(db, publish):
    oldest, middle = publish("Oldest"), publish("Middle")
    fixed = publish("Middle, corrected", corrects=middle.uid)
    newest = publish("Newest")
    publishing.retract(db, newest.id, "Wrong", "author", rerender=lambda: None)
    assert [s.latest.uid for s in feeds.stories(db, limit=2)] == [fixed.uid, oldest.uid]
    assert [s.latest.uid for s in feeds.stories(db, limit=1)] == [fixed.uid]
    publishing.retract(db, fixed.id, "Wrong", "author", rerender=lambda: None)
    assert [s.latest.uid for s in feeds.stories(db, limit=1)] == [oldest.uid]  # read past a page of retracted


def test_worker_start_renders_the_whole_site_only_on_an_empty_public_dir(db, settings, runtime, publish):
    update = publish("ER open")
    root = Path(settings["PUBLIC_DIR"])
    shutil.rmtree(root)
    site.refresh(runtime.sessions, settings)
    assert (root / "index.html").exists() and (root / f"u/{update.uid}.html").exists()
    (root / f"u/{update.uid}.html").unlink()
    (root / "feed.rss").write_bytes(b"stale")
    site.refresh(runtime.sessions, settings)
    assert b"ER open" in (root / "feed.rss").read_bytes() and not (root / f"u/{update.uid}.html").exists()


def insert_history(db, author, count: int) -> None:
    """`count` older updates already in the feed, each its own story, inserted in bulk."""
    incident = Incident(title="History", slug="history")
    db.add(incident)
    db.flush()
    start = utcnow() - timedelta(days=1)
    rows = [{"uid": f"{n:012x}", "incident_id": incident.id, "er_access": "open", "operating_status": "normal",
             "headline": f"Update {n}", "body": "", "author_id": author.id, "published_at": start + timedelta(seconds=n),
             "next_update": "", "story_uid": f"{n:012x}", "retraction_reason": "", "audience": "public"}
            for n in range(count)]
    bulk.insert_rows(db, Update.__table__, rows)
    bulk.insert_rows(db, FeedEntry.__table__, [
        {"update_id": id_, "guid": f"http://127.0.0.1:5000/u/{uid}", "title": uid, "content": "", "link": "",
         "published_at": at} for id_, uid, at in db.execute(select(Update.id, Update.uid, Update.published_at))])
    db.commit()


def written(settings) -> dict[str, bytes]:
    """The public files on disk (no gzip twins)."""
    root = Path(settings.PUBLIC_DIR)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.suffix != ".gz"}


def assert_current(settings, headline: str, ems_traffic: str) -> dict[str, bytes]:
    """`headline` leads the status page and the feeds, HAVE reports `ems_traffic`, every XML file parses."""
    on_disk = written(settings)
    for name, body in on_disk.items():
        if name.endswith((".xml", ".atom", ".rss")):
            etree.fromstring(body)
    assert feedparser.parse(on_disk["feed.atom"]).entries[0].title == headline
    assert feedparser.parse(on_disk["feed.rss"]).entries[0].title == headline
    assert headline in on_disk["index.html"].decode()
    have = etree.fromstring(on_disk["have.xml"])
    assert have.findtext(".//{urn:oasis:names:tc:emergency:EDXL:HAVE:1.0}EMSTrafficStatus") == ems_traffic
    return on_disk


def test_text_with_control_characters_stored_before_the_fix_goes_out_without_them_and_stops_nothing(
        db, settings, publish):
    old = publish("Shelter in place", er="diversion",
                  poison={"headline": "Shelter\x01 in place\ufffe", "body": "Stay\x0binside\x1f."})
    db.execute(sql_update(Incident).where(Incident.id == old.incident_id).values(title="Fort Hood\x03 response"))
    db.commit()
    later = publish("All clear", er="open")
    assert {old.deliveries[0].state, later.deliveries[0].state} == {"sent"}
    on_disk = assert_current(settings, "All clear", "Normal")
    assert [e.title for e in feedparser.parse(on_disk["feed.atom"]).entries] == ["All clear", "Shelter in place"]
    alert = etree.fromstring(on_disk[f"cap/{old.uid}.xml"])
    assert alert.findtext(f"{CAP}info/{CAP}headline") == "Shelter in place"
    assert alert.findtext(f"{CAP}info/{CAP}description").endswith("Stay\ninside.")
    assert later.uid in on_disk["cap/index.atom"].decode()
    assert "feed.atom" in files(db, settings)  # and so does a full rebuild


def test_an_update_that_cannot_be_rendered_fails_its_feed_delivery_and_the_rest_of_the_site_stays_current(
        db, settings, publish):
    first = publish("ER on diversion", er="diversion")
    bad = publish("Surge plan", poison={"er_access": "surge"})  # a status this version does not know
    delivery = bad.deliveries[0]
    assert (delivery.state, delivery.error_code) == ("failed", "render_failed")
    assert f"update #{bad.id}" in delivery.error_message and "surge" in delivery.error_message
    # A correction that cannot be rendered leaves its story as it stood.
    fix = publish("ER on diversion until 18:00", er="diversion", corrects=first.uid,
                  poison={"operating_status": "unknown"})
    assert fix.deliveries[0].state == "failed"
    assert db.scalar(select(FeedEntry).where(FeedEntry.update_id.in_([bad.id, fix.id]))) is None
    later = publish("Visiting hours resume", er="open")
    assert later.deliveries[0].state == "sent"
    on_disk = assert_current(settings, "Visiting hours resume", "Normal")
    assert [e.title for e in feedparser.parse(on_disk["feed.atom"]).entries] == [
        "Visiting hours resume", "ER on diversion"]
    index = on_disk["cap/index.atom"].decode()
    assert later.uid in index and bad.uid not in index and fix.uid not in index
    assert f"cap/{bad.uid}.xml" not in on_disk and f"cap/{later.uid}.xml" in on_disk
    problems = {}
    rebuilt = site.build(db, settings, problems)
    assert set(problems) == {bad.id, fix.id} and "feed.atom" in rebuilt


def test_the_promise_reads_the_same_on_the_update_page_the_feeds_and_the_cap_description(db, settings, publish,
                                                                                       cap_schema):
    chicago = settings.replace(TIMEZONE="America/Chicago")
    promised = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=45)
    update = publish("ER open", next_update_at=promised)
    built = site.build(db, chicago)
    local = promised.astimezone(ZoneInfo("America/Chicago"))
    said = re.compile(rf"Next update by (\w{{3}} )?{local:%H:%M} {local:%Z}\.")
    for name in (f"u/{update.uid}.html", "index.html", "feed.json", "feed.atom", "feed.rss", f"cap/{update.uid}.xml"):
        assert said.search(built[name].decode()), name
    cap = etree.fromstring(built[f"cap/{update.uid}.xml"])
    assert cap_schema.validate(cap), cap_schema.error_log
    assert said.search(cap.findtext(f".//{CAP}description"))
    assert cap.find(f".//{CAP}expires") is None


def test_no_further_updates_is_said_and_an_old_rows_free_text_still_reads(db, settings, publish):
    publish("All clear", poison={"no_further_updates": True})
    assert "<strong>No further updates planned.</strong>" in site.status_page(db, settings).decode()
    old = publish("ER open", poison={"next_update": "by 18:00 CST"})
    assert "<strong>Next update: by 18:00 CST</strong>" in site.status_page(db, settings).decode()
    assert "Next update: by 18:00 CST" in site.update_page(db, settings, old).decode()
