"""An exercise never reaches the public: every public path (from the app's url_map) and every file in PUBLIC_DIR,
walked as for internal updates (tests/web/test_public_audience.py), with the drill on every channel."""
from pathlib import Path

import pytest

from crisiscast.core.domain import Draft
from crisiscast.public import site
from tests.conftest import csrf_token
from tests.web.test_public_audience import KINDS, PUBLIC, leaks, public_paths

DRILL = Draft(incident="Mass casualty drill west wing", er_access="closed_walkins", operating_status="evacuating",
              headline="Drill: evacuate the west wing", body="Move patients to the north tower.",
              channels=("sms", "x", "facebook", "bluesky", "mastodon", "feed"), lists=("drill",), exercise=True)


@pytest.fixture
def updates(publish, drain, subscribe):
    """A public update, the drill on every channel, then another public update (so the top level is rendered
    after the drill exists), all sent through a real worker; returns (drill, public)."""
    subscribe("+15125550190", lists=("drill",))
    publish(PUBLIC, headline="First public update", incident="Water main break")
    drill = publish(DRILL)
    public = publish(PUBLIC)
    drain()
    return drill, public


def secrets_of(update) -> list[str]:
    return [update.uid, update.headline, update.incident.title, update.incident.slug, "EXERCISE", "north tower"]


def test_no_public_path_shows_an_exercise(app, updates):
    drill, public = updates
    for path in public_paths(app, drill, public):
        for gzipped in (False, True):
            response = app.test_client().get(path, headers={"Accept-Encoding": "gzip"} if gzipped else {})
            assert response.status_code < 500, path
            assert leaks(response.data, secrets_of(drill)) == [], (path, response.status_code)
    for path in (f"/u/{drill.uid}", f"/cap/{drill.uid}.xml", *(f"/incidents/{drill.incident.slug}/feed.{kind}"
                                                                 for kind in KINDS)):
        assert app.test_client().get(path).status_code == 404, path
    assert public.uid.encode() in app.test_client().get("/feed.atom").data  # the feed is written, without it
    # EMS boards read the public update's status, not the drill's evacuation
    assert b"<have:FacilityStatus>Normal</have:FacilityStatus>" in app.test_client().get("/have.xml").data


def test_no_file_is_written_for_an_exercise_even_by_a_full_rebuild(settings, runtime, updates):
    drill, public = updates
    root = Path(settings.PUBLIC_DIR)
    site.rebuild(runtime.sessions, settings)
    written = [p for p in root.rglob("*") if p.is_file()]
    assert f"u/{public.uid}.html" in {str(p.relative_to(root)) for p in written}
    for path in written:
        assert leaks(path.read_bytes(), secrets_of(drill)) == [], path
        assert not any(s in str(path) for s in (drill.uid, drill.incident.slug)), path


def test_retracting_an_exercise_publishes_no_cancel(client, auth, settings, updates):
    drill, _ = updates
    auth.login("author")
    token = csrf_token(client, f"/updates/{drill.id}")
    page = client.post(f"/updates/{drill.id}/retract", data={"reason": "Drill over", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "it was an exercise, so nothing public changes" in page
    assert client.get(f"/cap/{drill.uid}-cancel.xml").status_code == 404
    for path in Path(settings.PUBLIC_DIR).rglob("*"):
        assert path.is_dir() or leaks(path.read_bytes(), [*secrets_of(drill), "Drill over"]) == [], path
