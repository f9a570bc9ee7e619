"""The promise of the next update in the console: quick picks and a clock time in the hospital's zone, what is
refused and kept as typed, what publish stores, and the overdue alarm on every console page."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update as sql_update

from crisiscast.core import promise
from crisiscast.store.models import Update, utcnow
from tests.web.test_console import compose_form, preview_then_publish

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def settings(settings):
    return settings.replace(TIMEZONE="America/Chicago")


def local(at) -> str:
    return at.astimezone(CHICAGO).strftime("%H:%M")


def said(at) -> re.Pattern:
    """The line every channel carries for `at`, with or without the weekday."""
    stamp = at.astimezone(CHICAGO)
    return re.compile(rf"Next update by (\w{{3}} )?{stamp:%H:%M} {stamp:%Z}\.")


def test_a_quick_pick_fills_the_clock_time_and_the_preview_says_it(client, auth):
    auth.login("author")
    before = utcnow()
    page = client.post("/updates/new", data=compose_form(client, next_in="15")).get_data(as_text=True)
    typed = re.search(r'id="next_at" name="next_at" value="(\d\d:\d\d)"', page).group(1)
    assert typed in {promise.after_minutes(15, now, CHICAGO) for now in (before, utcnow())}
    assert re.search(rf"Next update by (\w{{3}} )?{typed} C[SD]T\.", page)  # in the preview of every channel
    assert 'value="15"' in page and 'value="30"' in page and 'value="60"' in page
    assert "America/Chicago" in page


def test_a_clock_time_previews_and_publishes_as_that_instant(client, auth, db):
    auth.login("author")
    at = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    response = preview_then_publish(client, compose_form(client, next_at=local(at)))
    assert response.status_code == 302
    stored = db.query(Update).order_by(Update.id.desc()).first()
    assert stored.next_update_at == at and not stored.no_further_updates
    page = client.get(f"/updates/{stored.id}").get_data(as_text=True)
    assert said(at).search(page)
    for delivery in stored.deliveries:
        assert said(at).search(delivery.rendering["text"]), delivery.channel


def test_a_time_that_just_passed_is_refused_with_what_was_typed_kept(client, auth):
    auth.login("author")
    passed = local(utcnow() - timedelta(minutes=10))
    response = client.post("/updates/new", data={**compose_form(client, next_at=passed), "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"{passed} has passed" in page and f'value="{passed}"' in page
    both = client.post("/updates/new", data={**compose_form(client, next_at=local(utcnow() + timedelta(hours=1)),
                                                            no_further_updates="1"), "action": "preview"})
    assert both.status_code == 422 and "not both" in both.get_data(as_text=True)
    nonsense = client.post("/updates/new", data={**compose_form(client, next_at="x" * 5000), "action": "preview"})
    assert nonsense.status_code == 422 and "hours and minutes" in nonsense.get_data(as_text=True)


def test_no_further_updates_planned_goes_out_on_every_channel(client, auth, db):
    auth.login("author")
    assert preview_then_publish(client, compose_form(client, no_further_updates="1")).status_code == 302
    stored = db.query(Update).order_by(Update.id.desc()).first()
    assert stored.no_further_updates and stored.next_update_at is None
    assert all(d.rendering["text"].endswith("No further updates planned.") for d in stored.deliveries
               if d.channel in ("sms", "x", "facebook"))


def test_a_correction_keeps_the_promise_while_it_is_ahead(client, auth, publish):
    auth.login("author")
    at = (utcnow() + timedelta(hours=3)).replace(second=0, microsecond=0)
    original = publish(next_update_at=at, queued=False)
    page = client.get(f"/updates/new?corrects={original.uid}").get_data(as_text=True)
    assert f'id="next_at" name="next_at" value="{local(at)}"' in page


@pytest.mark.parametrize("role", ["viewer", "author", "admin"])
def test_an_overdue_promise_sounds_on_every_console_page_until_an_update_keeps_it(client, auth, db, publish, role):
    original = publish(incident="Fort Hood", headline="ER open", next_update_at=utcnow() + timedelta(minutes=30),
                       queued=False)
    auth.login(role)
    assert 'id="overdue-alarm"' not in client.get("/").get_data(as_text=True)
    db.execute(sql_update(Update).where(Update.id == original.id)
               .values(next_update_at=utcnow() - timedelta(minutes=20)))
    db.commit()
    pages = ["/", f"/updates/{original.id}", "/subscribers/", "/audit", "/account"]
    pages += ["/updates/new"] if role != "viewer" else []
    pages += ["/admin/users"] if role == "admin" else []
    for path in pages:
        page = client.get(path).get_data(as_text=True)
        assert 'id="overdue-alarm"' in page and "Fort Hood" in page and re.search(r"\(2\d min ago\)", page), path
    publish(incident="Fort Hood", headline="ER still open", queued=False)
    assert 'id="overdue-alarm"' not in client.get("/").get_data(as_text=True)


def test_no_alarm_for_a_visitor_who_is_not_signed_in(client, publish):
    publish(next_update_at=utcnow() - timedelta(minutes=5), queued=False)
    assert 'overdue-alarm' not in client.get("/login").get_data(as_text=True)
