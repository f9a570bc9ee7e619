"""The pre-rendered public site: status page, CAP 1.2 (valid against the OASIS schema), EDXL-HAVE, escaping."""
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from crisiscast import public_site, services
from crisiscast.delivery import deliver
from crisiscast.domain import ER_ACCESS, OPERATING_STATUS, Draft

SPECS = Path(__file__).resolve().parent / "specs"  # vendored, so the schema tests always run
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture(scope="module")
def cap_schema():
    return etree.XMLSchema(etree.parse(str(SPECS / "CAP-v1.2.xsd")))


@pytest.fixture
def publish(db, runtime, users):
    def run(headline="ER open", er="open", status="normal", body="", corrects="", next_update=""):
        draft = Draft(incident="Fort Hood shooting response", er_access=er, operating_status=status,
                      headline=headline, body=body, channels=("feed",), corrects=corrects, next_update=next_update)
        result = services.publish(db, draft, uid=services.new_uid(), author=users["author"],
                                  settings=runtime.settings, channels=runtime.channels, enqueue=lambda *a: None)
        deliver(runtime.sessions, runtime.channels, result.update.deliveries[0].id, runtime.retry_policy)
        db.refresh(result.update)
        return result.update

    return run


def files(db, settings):
    return public_site.build(db, settings)


def test_every_cap_alert_validates_and_updates_and_cancels_reference_the_story(db, settings, publish, cap_schema):
    first = publish("ER on diversion", er="diversion", status="lockdown")
    fix = publish("ER on diversion until 18:00", er="diversion", status="lockdown", corrects=first.uid)
    services.retract(db, fix.id, "Superseded by the all-clear", "author", rerender=lambda: None)
    built = files(db, settings)
    alerts = {name: etree.fromstring(body) for name, body in built.items() if name.startswith("cap/")
              and name.endswith(".xml")}
    assert set(alerts) == {f"cap/{first.uid}.xml", f"cap/{fix.uid}.xml", f"cap/{fix.uid}-cancel.xml"}
    for name, alert in alerts.items():
        assert cap_schema.validate(alert), (name, cap_schema.error_log)
    original, update, cancel = (alerts[f"cap/{first.uid}.xml"], alerts[f"cap/{fix.uid}.xml"],
                                alerts[f"cap/{fix.uid}-cancel.xml"])
    assert original.findtext(f"{CAP}msgType") == "Alert" and original.find(f"{CAP}references") is None
    assert update.findtext(f"{CAP}msgType") == "Update"
    first_ref = f"{original.findtext(f'{CAP}sender')},{original.findtext(f'{CAP}identifier')}," \
                f"{original.findtext(f'{CAP}sent')}"
    assert update.findtext(f"{CAP}references") == first_ref
    assert cancel.findtext(f"{CAP}msgType") == "Cancel"
    refs = cancel.findtext(f"{CAP}references").split(" ")
    assert refs[0] == first_ref and refs[1].split(",")[1] == update.findtext(f"{CAP}identifier")
    info = original.find(f"{CAP}info")
    assert (info.findtext(f"{CAP}category"), info.findtext(f"{CAP}severity"), info.findtext(f"{CAP}urgency")) == (
        "Health", "Severe", "Immediate")
    index = feedparser.parse(built["cap/index.atom"])
    assert not index.bozo and index.entries == []  # the only story was retracted


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
    publish("Status", er=er, status=status, next_update="by 18:00 CST")
    page = public_site.status_page(db, settings).decode()
    er_box = page[page.index('id="er-access"'):page.index('id="operating-status"')]
    assert f"<strong>{ER_ACCESS[er]}</strong>" in er_box
    assert f"<strong>{OPERATING_STATUS[status]}</strong>" in page[page.index('id="operating-status"'):]
    assert "Next update: <strong>by 18:00 CST</strong>" in page


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
    page = public_site.status_page(db, settings).decode()
    assert "<script" not in page and "http" not in page.replace(settings["PUBLIC_BASE_URL"], "")


def test_timeline_is_newest_first_and_retracted_ones_leave_it(db, settings, publish):
    publish("First")
    second = publish("Second")
    publish("Third")
    services.retract(db, second.id, "Wrong", "author", rerender=lambda: None)
    page = public_site.status_page(db, settings).decode()
    assert page.index("Third") < page.index("First") and "Second" not in page
    retracted = public_site.update_page(db, settings, second).decode()
    assert 'id="retracted"' in retracted and "Wrong" in retracted


def test_write_is_atomic_and_keeps_a_gzip_twin(tmp_path):
    import gzip

    assert public_site.write({"feed.rss": b"<rss/>"}, tmp_path) == 1
    assert public_site.write({"feed.rss": b"<rss/>"}, tmp_path) == 0
    assert gzip.decompress((tmp_path / "feed.rss.gz").read_bytes()) == b"<rss/>"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
