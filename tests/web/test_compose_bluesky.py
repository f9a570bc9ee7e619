"""Bluesky in the composer: its checkbox (or "not configured"), its preview with graphemes and the link card,
the live counter, and publishing to it through a real worker."""
import re

import config
from crisiscast.runtime import Runtime
from crisiscast.store.models import Delivery
from crisiscast.web import create_app
from tests.conftest import AuthActions
from tests.web.test_console import compose_form, preview_then_publish


def test_the_checkbox_is_offered_and_publish_reaches_bluesky(client, auth, db, drain, sandbox_client):
    auth.login("author")
    page = client.get("/updates/new").get_data(as_text=True)
    box = re.search(r'<input type="checkbox" name="channels" value="bluesky"([^>]*)>', page)
    assert box and "disabled" not in box.group(1)
    response = preview_then_publish(client, compose_form(client, channels=["bluesky"], lists=[]))
    assert response.status_code == 302
    drain()
    [post] = [r for r in sandbox_client.accepted("bluesky") if r["kind"] == "post"]
    assert db.query(Delivery).one().provider_id == post["id"]
    assert post["id"] in client.get(response.headers["Location"]).get_data(as_text=True)


def test_the_preview_counts_graphemes_and_shows_the_card(client, auth):
    auth.login("author")
    form = compose_form(client, channels=["bluesky", "x"], lists=[], body="Families 👨‍👩‍👧‍👦 use the south entrance.")
    page = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert 'data-channel="bluesky"' in page
    shown = int(re.search(r"(\d+) of 300 characters \(as Bluesky counts them", page).group(1))
    assert re.search(rf'id="count-bluesky">{shown}/300<', page)  # the live counter agrees with the preview
    assert 'id="bluesky-card"' in page and "<strong>ER open with delays; blood donors needed</strong>" in page


def test_the_live_preview_carries_the_counter(client, auth):
    auth.login("author")
    form = compose_form(client, channels=["bluesky"], lists=[], body="🇺🇸" * 400)
    page = client.post("/updates/preview", data=form).get_data(as_text=True)
    counted = int(re.search(r'id="count-bluesky">(\d+)/300<', page).group(1))
    assert counted > 400 and "longer text is shortened with a link" in page


def test_without_its_settings_bluesky_is_not_configured_and_cannot_be_ticked(settings, users):
    bare = config.Settings({**settings, "BLUESKY_HANDLE": "", "BLUESKY_APP_PASSWORD": ""})
    runtime = Runtime(bare)
    try:
        client = create_app(bare, runtime).test_client()
        AuthActions(client).login("author")
        page = client.get("/updates/new").get_data(as_text=True)
    finally:
        runtime.close()
    assert re.search(r'value="bluesky"\s+disabled>\s*Bluesky\s*<span class="state state-skipped">not configured', page)
    assert "set BLUESKY_HANDLE, BLUESKY_APP_PASSWORD" in page
