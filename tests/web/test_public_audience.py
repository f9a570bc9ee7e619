"""Staff-only updates never reach the public: every public path, every pre-rendered file, checked.

The paths are taken from the app's url_map (every GET route, answered without sign-in) and from the files in
PUBLIC_DIR, so a public path added later is walked too.
"""
import gzip
import re
from pathlib import Path

import pytest

from crisiscast.core.domain import Draft
from crisiscast.public import site
from crisiscast.services import subscribers
from crisiscast.web.public_files import ROUTES
from tests.conftest import csrf_token

STAFF = Draft(incident="Code silver response ward 3", er_access="closed", operating_status="lockdown",
              headline="Code silver in ward 3", body="Stay clear of the east stairs.", channels=("sms",),
              lists=("staff-on-call",))
PUBLIC = Draft(incident="Flu season", er_access="open", operating_status="normal", headline="ER open, flu clinic",
               body="Flu shots at the main entrance.", channels=("feed",))
KINDS = ("rss", "atom", "json")


@pytest.fixture
def updates(publish, drain, subscribe):
    """A public update, then a staff-only one, then another public one (so the top level is rendered after the
    internal update exists), all sent through a real worker; returns (internal, public)."""
    subscribe("+15125550100", lists=("staff-on-call",))
    publish(PUBLIC, headline="First public update", incident="Water main break")
    internal = publish(STAFF)
    public = publish(PUBLIC)
    drain()
    return internal, public


def secrets_of(update) -> list[str]:
    return [update.uid, update.headline, update.incident.title, update.incident.slug, "Lockdown", "east stairs"]


def shows_of(update) -> list[str]:
    return [update.uid, update.headline]


def candidates(internal, public) -> dict[str, list[str]]:
    """Values for each URL parameter: the internal update's (what must stay hidden), and the public one's."""
    return {"uid": [internal.uid, public.uid], "name": [internal.uid, f"{internal.uid}-cancel", public.uid],
            "slug": [internal.incident.slug, public.incident.slug], "kind": list(KINDS),
            "update_id": [str(internal.id)], "filename": ["console.css"], "template_id": ["1"],
            "request_id": ["1"], "incident_id": [str(internal.incident_id)]}


def public_paths(app, internal, public) -> list[str]:
    """Every GET path of the app with each parameter filled from `candidates`, and each file route's."""
    values = candidates(internal, public)
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        missing = rule.arguments - set(values)
        assert not missing, f"{rule.rule}: teach this test a value for {missing}"
        expanded = [rule.rule]
        for arg in rule.arguments:
            expanded = [re.sub(rf"<(?:[a-z]+:)?{arg}>", value, path) for path in expanded for value in values[arg]]
        paths.update(expanded)
    paths.update(f"/u/{uid}" for uid in values["uid"])
    paths.update(f"/cap/{name}.xml" for name in values["name"])
    paths.update(f"/incidents/{slug}/feed.{kind}" for slug in values["slug"] for kind in KINDS)
    paths.update({"/status", "/have.xml", "/cap/index.atom"} | {f"/feed.{kind}" for kind in KINDS})
    assert all(any(pattern.match(p) for p in paths) for pattern, _ in ROUTES), "a file route is not walked"
    return sorted(paths)


def leaks(body: bytes, secrets: list[str]) -> list[str]:
    text = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode("utf-8", "replace")
    return [secret for secret in secrets if secret in text]


def test_no_public_path_shows_an_internal_update_while_public_ones_show(app, updates):
    internal, public = updates
    answered = {}
    for path in public_paths(app, internal, public):
        for gzipped in (False, True):
            response = app.test_client().get(path, headers={"Accept-Encoding": "gzip"} if gzipped else {})
            assert response.status_code < 500, path
            assert leaks(response.data, secrets_of(internal)) == [], (path, response.status_code)
            answered[path] = answered.get(path) or response
    for path in (f"/u/{internal.uid}", f"/cap/{internal.uid}.xml", f"/cap/{internal.uid}-cancel.xml",
                 *(f"/incidents/{internal.incident.slug}/feed.{kind}" for kind in KINDS)):
        assert answered[path].status_code == 404, path
    for path in ("/status", "/cap/index.atom", f"/u/{public.uid}", f"/cap/{public.uid}.xml",
                 *(f"/feed.{kind}" for kind in KINDS),
                 *(f"/incidents/{public.incident.slug}/feed.{kind}" for kind in KINDS)):
        assert answered[path].status_code == 200, path
        assert leaks(answered[path].data, shows_of(public)) != [], path
    footer = answered["/status"].get_data(as_text=True).split("<footer>")[1]
    assert "Water main break" in footer and public.incident.title in footer  # the incident list
    assert b"<have:FacilityStatus>Normal</have:FacilityStatus>" in answered["/have.xml"].data


def test_no_file_is_written_for_an_internal_update_even_by_a_full_rebuild(settings, runtime, updates):
    internal, public = updates
    root = Path(settings.PUBLIC_DIR)
    site.rebuild(runtime.sessions, settings)
    written = [p for p in root.rglob("*") if p.is_file()]
    assert {f"u/{public.uid}.html", f"cap/{public.uid}.xml"} <= {str(p.relative_to(root)) for p in written}
    for path in written:
        assert leaks(path.read_bytes(), secrets_of(internal)) == [], path
        assert not any(s in str(path) for s in (internal.uid, internal.incident.slug)), path


def test_files_an_internal_update_left_before_the_upgrade_go_at_the_next_worker_start(app, settings, runtime,
                                                                                     updates):
    """Before updates had an audience, the site wrote a staff-only update's page and alert: they are removed."""
    internal, _ = updates
    root = Path(settings.PUBLIC_DIR)
    stale = [f"u/{internal.uid}.html", f"cap/{internal.uid}.xml", f"incidents/{internal.incident.slug}/feed.atom"]
    for name in stale:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(f"<p>{internal.headline}</p>".encode())
        (root / f"{name}.gz").write_bytes(gzip.compress(f"<p>{internal.headline}</p>".encode()))
    assert app.test_client().get(f"/u/{internal.uid}").status_code == 200  # what the old site served
    site.refresh(runtime.sessions, settings)
    assert [name for name in stale if (root / name).exists() or (root / f"{name}.gz").exists()] == []
    assert app.test_client().get(f"/u/{internal.uid}").status_code == 404


def test_an_sms_to_a_list_turned_internal_is_not_published_and_carries_no_link(app, db, settings, publish, drain,
                                                                               subscribe, sandbox_client):
    media = next(lst for lst in subscribers.all_lists(db) if lst.name == "media")
    subscribers.set_flags(db, media.id, public=False, joinable=False, actor="admin")
    subscribe("+15125550101", lists=("media",))
    internal = publish(STAFF, lists=("media",), body="Stay clear of the east stairs. " * 30)
    publish(PUBLIC)
    drain()
    assert internal.audience == "internal"
    sent = [m["body"] for m in sandbox_client.accepted("twilio") if "Code silver" in m["body"]]
    assert sent and all("More:" not in body and "http" not in body for body in sent)
    for path in ("/status", "/feed.atom", "/cap/index.atom", f"/u/{internal.uid}", f"/cap/{internal.uid}.xml"):
        assert leaks(app.test_client().get(path).data, secrets_of(internal)) == [], path
    assert not any(internal.uid in str(p) for p in Path(settings.PUBLIC_DIR).rglob("*"))


def test_retracting_an_internal_update_publishes_no_cancel(client, auth, settings, updates):
    internal, _ = updates
    auth.login("author")
    token = csrf_token(client, f"/updates/{internal.id}")
    page = client.post(f"/updates/{internal.id}/retract", data={"reason": "Code silver over", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "it was internal (staff only), so nothing public changes" in page
    assert client.get(f"/cap/{internal.uid}-cancel.xml").status_code == 404
    for path in Path(settings.PUBLIC_DIR).rglob("*"):
        assert path.is_dir() or leaks(path.read_bytes(), [*secrets_of(internal), "Code silver over"]) == [], path
