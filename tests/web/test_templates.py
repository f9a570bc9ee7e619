"""Templates in the console: the picker, a form filled from one, placeholders that must be filled, the live
preview, and the admins' pages."""
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crisiscast.core import promise
from crisiscast.store.models import AuditEvent, MessageTemplate, Update, utcnow
from tests.conftest import csrf_token


def starter(db, name="ER on ambulance diversion") -> MessageTemplate:
    return db.scalar(select(MessageTemplate).where(MessageTemplate.name == name))


def template_form(client, template_id: int) -> dict:
    """The compose form as a template fills it (hidden fields, selected options and checked boxes)."""
    page = client.get(f"/updates/new?template={template_id}").get_data(as_text=True)
    inputs = re.findall(r'<input type="(?:hidden|text|time)"[^>]*?name="(\w+)"[^>]*?value="([^"]*)"', page)
    form = dict(inputs)
    form.update(re.findall(r'<select id="(\w+)"[^>]*>(?:.(?!</select>))*?<option value="(\w+)" selected', page, re.S))
    form["body"] = re.search(r'<textarea id="body"[^>]*>([^<]*)</textarea>', page).group(1)
    form["channels"] = re.findall(r'name="channels" value="(\w+)" checked', page)
    form["lists"] = re.findall(r'name="lists" value="([\w-]+)" checked', page)
    return form


def test_new_update_opens_on_the_picker_most_used_first(client, auth, db, publish):
    auth.login("author")
    page = client.get("/updates/new").get_data(as_text=True)
    buttons = re.findall(r'class="button template" href="/updates/new\?template=(\d+)">([^<]+)<', page)
    assert buttons[0][1] == "ER on ambulance diversion" and len(buttons) == 9
    assert "Blank update" in page and 'name="uid"' in page  # the blank form sits below the picker
    evacuation = starter(db, "Evacuation")
    update = publish()
    update.template_id = evacuation.id
    db.commit()
    page = client.get("/updates/new").get_data(as_text=True)
    assert re.search(r'class="button template" href="/updates/new\?template=(\d+)"', page).group(1) == \
        str(evacuation.id)
    assert "Evacuation" in client.get("/").get_data(as_text=True)  # the dashboard offers it too


def test_a_template_fills_the_whole_form_and_asks_for_its_placeholders(client, auth, db):
    auth.login("author")
    template = starter(db)
    before = utcnow()
    form = template_form(client, template.id)
    assert (form["er_access"], form["operating_status"]) == ("diversion", "normal")
    assert form["headline"] == "ER on ambulance diversion" and "{place}" in form["body"]
    assert form["channels"] == ["sms", "x", "facebook", "feed"] and form["lists"] == ["public"]
    # "next update within 30 minutes" became the clock time 30 minutes from when the form opened
    assert form["next_at"] in {promise.after_minutes(30, now, ZoneInfo("UTC")) for now in (before, utcnow())}
    assert form["template"] == str(template.id)
    assert "ph_place" in form


def test_an_unfilled_placeholder_cannot_be_previewed_or_published(client, auth, db):
    auth.login("author")
    form = template_form(client, starter(db).id)
    preview = client.post("/updates/new", data={**form, "action": "preview"})
    assert preview.status_code == 422
    assert "Fill in place: it cannot go out as {place}." in preview.get_data(as_text=True)
    forged = client.post("/updates/new", data={**form, "action": "publish", "digest": "0" * 32})
    assert forged.status_code == 422
    typed_in_body = client.post("/updates/new", data={**form, "ph_place": "", "body": "Call {phone}.",
                                                      "action": "preview"})
    assert typed_in_body.status_code == 422 and "Fill in {phone} before the preview." in typed_in_body.get_data(
        as_text=True)
    assert db.scalar(select(Update)) is None


def test_filled_placeholders_publish_the_filled_text_and_count_the_use(client, auth, db, drain, sandbox_client,
                                                                       subscribe):
    subscribe("+15125551267")
    auth.login("author")
    template = starter(db)
    form = {**template_form(client, template.id), "ph_place": "Metroplex Hospital"}
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "Ambulances are taking patients to Metroplex Hospital." in preview
    assert "Publish to 4 channels · 1 text<" in preview
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    response = client.post("/updates/new", data={**form, "action": "publish", "digest": digest})
    assert response.status_code == 302
    drain()
    update = db.scalar(select(Update))
    assert update.template_id == template.id and "{" not in update.body
    [sms] = sandbox_client.accepted("twilio")
    assert "Metroplex Hospital" in sms["body"]


def test_the_live_preview_renders_in_place_with_counters_and_the_publish_bar(client, auth, db):
    auth.login("author")
    form = template_form(client, starter(db).id)
    waiting = client.post("/updates/preview", data=form).get_data(as_text=True)
    assert 'id="preview-waiting"' in waiting and 'id="publish"' not in waiting
    live = client.post("/updates/preview", data={**form, "ph_place": "Metroplex"}).get_data(as_text=True)
    assert 'id="count-headline">25/120<' in live and re.search(r'X <span class="">\d+/280<', live)
    assert '<details class="channel-preview" data-channel="sms">' in live
    assert re.search(r'name="digest" value="[0-9a-f]{32}"', live) and 'id="publish"' in live
    assert client.post("/updates/preview", data={**form, "uid": "nope"}).status_code == 400


def test_admins_create_edit_and_delete_templates_audited(client, auth, db):
    auth.login("admin")
    token = csrf_token(client, "/admin/templates")
    fields = {"csrf_token": token, "name": "Water main break", "headline": "Water off at {place}",
              "body": "Use bottled water.", "channels": ["sms", "feed"], "lists": ["public"], "er_access": "",
              "operating_status": "", "next_update_minutes": ""}
    refused = client.post("/admin/templates", data={**fields, "headline": "", "body": "Typed and kept"})
    assert refused.status_code == 422 and "Typed and kept" in refused.get_data(as_text=True)
    assert client.post("/admin/templates", data=fields).status_code == 302
    made = db.scalar(select(MessageTemplate).where(MessageTemplate.name == "Water main break"))
    assert client.get(f"/admin/templates/{made.id}").status_code == 200
    assert client.post(f"/admin/templates/{made.id}", data={**fields, "name": "Water main break (east)"}) \
        .status_code == 302
    assert client.post(f"/admin/templates/{made.id}/delete", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/admin/templates/{made.id}/delete", data={"csrf_token": token}).status_code == 302
    assert client.get(f"/admin/templates/{made.id}").status_code == 404
    outcomes = db.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "template")
                          .order_by(AuditEvent.id)).all()
    assert outcomes == ["created", "changed", "deleted"]


def test_only_admins_manage_templates(client, auth):
    auth.login("author")
    assert client.get("/admin/templates").status_code == 403


def test_the_live_preview_carries_the_guard_warnings_and_their_tick(client, auth, db):
    auth.login("author")
    form = {**template_form(client, starter(db).id), "ph_place": "Metroplex Hospital",
            "body": "Patient John Smith, DOB 04/12/1961, is in room 412."}
    live = client.post("/updates/preview", data=form).get_data(as_text=True)
    assert 'id="guards-title"' in live and 'name="acknowledge"' in live
    assert live.index('id="guards-title"') < live.index('id="publish-bar"')  # inside the swapped preview
