"""The composer's Exercise box: a refused drill keeps what was typed, the autosave keeps the box, a double
submit publishes once, and the preview says plainly what the drill will and will not do."""
from sqlalchemy import func, select

from crisiscast.store.models import Update
from tests.web.test_console import compose_form, preview_then_publish

TICKED = 'name="exercise" value="on" checked'


def test_a_drill_to_a_public_list_is_refused_keeping_what_was_typed(client, auth, db):
    auth.login("author")
    form = compose_form(client, exercise="on", lists=["drill", "public"], headline="Drill: code orange")
    response = client.post("/updates/new", data={**form, "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "An exercise is texted only to lists that are not public (such as drill); untick public." in page
    assert TICKED in page and 'value="Drill: code orange"' in page
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_the_autosave_keeps_the_exercise_box(client, auth):
    auth.login("author")
    form = compose_form(client, exercise="on", lists=["drill"])
    client.post("/updates/draft", data=form)
    assert TICKED in client.get("/updates/new").get_data(as_text=True)


def test_a_drill_submitted_twice_is_published_once(client, auth, db, drain, subscribe, sandbox_client):
    subscribe("+15125550183", lists=("drill",))
    auth.login("author")
    form = compose_form(client, exercise="on", lists=["drill"], channels=["sms"])
    first = preview_then_publish(client, form)
    again = preview_then_publish(client, form)
    assert first.status_code == again.status_code == 302
    drain()
    assert db.scalar(select(func.count()).select_from(Update)) == 1
    assert [m["to"] for m in sandbox_client.accepted("twilio")] == ["+15125550183"]
