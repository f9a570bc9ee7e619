"""The subscribers page: counts per list, search, add and remove, CSV import with its report."""
import io
import re

import pytest
from sqlalchemy import select

from crisiscast import jobs
from crisiscast.runtime import Runtime
from crisiscast.store.models import AuditEvent, Subscriber, SubscriberList
from crisiscast.web import create_app
from tests.conftest import AuthActions, csrf_token


def test_author_adds_searches_and_removes_a_number(client, auth, db):
    auth.login("author")
    token = csrf_token(client, "/subscribers/")
    response = client.post("/subscribers/", data={"phone": "512 555 1267", "name": "Ann", "lists": ["media"],
                                                  "csrf_token": token})
    assert response.status_code == 302
    subscriber = db.scalar(select(Subscriber))
    assert subscriber.phone == "+15125551267" and [lst.name for lst in subscriber.lists] == ["media"]
    page = client.get("/subscribers/?q=1267").get_data(as_text=True)
    assert "+15125551267" in page and "Ann" in page
    client.post(f"/subscribers/{subscriber.id}/remove", data={"csrf_token": token})
    db.expire_all()
    assert not db.get(Subscriber, subscriber.id).active


def test_invalid_number_is_refused_and_what_was_typed_kept(client, auth, db):
    auth.login("author")
    token = csrf_token(client, "/subscribers/")
    response = client.post("/subscribers/", data={"phone": "call me maybe", "name": "Zed", "lists": ["public"],
                                                  "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'value="call me maybe"' in page and 'value="Zed"' in page
    assert db.scalar(select(Subscriber)) is None


def test_csv_upload_shows_a_line_by_line_report(client, auth, db):
    auth.login("author")
    token = csrf_token(client, "/subscribers/")
    data = {"csrf_token": token, "file": (io.BytesIO(b"number,name,lists\n+15125550101,Ann,public\nnope,Bob,\n"),
                                          "people.csv")}
    page = client.post("/subscribers/import", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "Import: 1 added, 0 updated, 0 unchanged, 1 rejected." in page
    assert "&#39;nope&#39; is not a phone number" in page
    assert db.scalar(select(Subscriber)).phone == "+15125550101"


def test_viewer_sees_counts_but_cannot_change_anything(client, auth, db):
    auth.login("viewer")
    page = client.get("/subscribers/").get_data(as_text=True)
    assert "staff-on-call" in page and "Add a number" not in page
    assert client.post("/subscribers/", data={"phone": "+15125550101",
                                              "csrf_token": csrf_token(client, "/subscribers/")}).status_code == 403


def test_admin_creates_a_list_and_a_taken_name_is_explained(client, auth, db):
    auth.login("admin")
    token = csrf_token(client, "/subscribers/")
    page = client.post("/subscribers/lists", data={"name": "night-shift", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "List night-shift created." in page
    page = client.post("/subscribers/lists", data={"name": "night-shift", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "There is already a list named night-shift." in page
    assert db.scalar(select(SubscriberList).where(SubscriberList.name == "night-shift")) is not None


def test_each_list_says_public_or_internal_and_an_admin_changes_it_audited(client, auth, db):
    auth.login("admin")
    page = client.get("/subscribers/").get_data(as_text=True)
    staff_row = re.search(r'<tr id="list-staff-on-call">.*?</tr>', page, re.S).group(0)
    media_row = re.search(r'<tr id="list-media">.*?</tr>', page, re.S).group(0)
    assert "internal" in staff_row and "no (staff add only)" in staff_row
    assert ">public<" in media_row and "no (staff add only)" in media_row
    staff = db.scalar(select(SubscriberList).where(SubscriberList.name == "staff-on-call"))
    token = csrf_token(client, "/subscribers/")
    page = client.post(f"/subscribers/lists/{staff.id}", data={"joinable": "1", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "A list anyone can join by text reaches the public" in page
    page = client.post(f"/subscribers/lists/{staff.id}", data={"public": "1", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "List staff-on-call: public, staff add only." in page
    db.expire_all()
    assert (staff.public, staff.joinable) == (True, False)
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "list_changed"))
    assert (event.actor, event.target, event.message) == (
        "admin", "staff-on-call", "internal, staff add only → public, staff add only")


def test_only_an_admin_changes_a_lists_audience(client, auth, db):
    auth.login("author")
    staff = db.scalar(select(SubscriberList).where(SubscriberList.name == "staff-on-call"))
    response = client.post(f"/subscribers/lists/{staff.id}",
                           data={"public": "1", "csrf_token": csrf_token(client, "/subscribers/")})
    assert response.status_code == 403 and "Save</button>" not in client.get("/subscribers/").get_data(as_text=True)
    db.expire_all()
    assert staff.public is False


def test_viewers_see_masked_numbers_and_authors_full_ones(client, auth, db, subscribe):
    subscribe("+15125551267")
    auth.login("viewer")
    page = client.get("/subscribers/").get_data(as_text=True)
    assert "+1 ••••••••67" in page and "5125551267" not in page
    assert "••67" not in client.get("/subscribers/?q=5125551267").get_data(as_text=True)  # no guessing by search
    auth.logout()
    auth.login("author")
    assert "+15125551267" in client.get("/subscribers/").get_data(as_text=True)


def test_the_page_shows_each_subscribers_consent(client, auth, db):
    auth.login("author")
    client.post("/subscribers/", data={"phone": "+15125551267", "lists": ["public"],
                                       "csrf_token": csrf_token(client, "/subscribers/")})
    page = client.get("/subscribers/").get_data(as_text=True)
    assert "added by staff (author)" in page
    consented = db.scalar(select(Subscriber)).consented_at
    assert consented.strftime("%Y-%m-%d %H:%M UTC") in page


def test_a_foreign_number_is_refused_with_the_reason_and_what_was_typed_kept(client, auth, db):
    auth.login("author")
    response = client.post("/subscribers/", data={"phone": "+234 803 123 4567", "name": "Ngozi", "lists": ["public"],
                                                  "csrf_token": csrf_token(client, "/subscribers/")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "alerts go only to numbers in US" in page
    assert 'value="+234 803 123 4567"' in page and 'value="Ngozi"' in page
    assert db.scalar(select(Subscriber)) is None


def test_a_csv_import_rejects_foreign_lines_and_imports_the_rest(client, auth, db):
    auth.login("author")
    csv = b"+15125550101,Ann,public\n+8613812345678,Li,public\n+15125550102,Bo,public\n"
    data = {"csrf_token": csrf_token(client, "/subscribers/"), "file": (io.BytesIO(csv), "people.csv")}
    page = client.post("/subscribers/import", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "Import: 2 added, 0 updated, 0 unchanged, 1 rejected." in page
    assert "+8613812345678 is a number in CN; alerts go only to numbers in US" in page
    assert len(db.scalars(select(Subscriber)).all()) == 2


@pytest.fixture
def confirming(settings, sandbox_client, users):
    """A client of an app with SMS_CONFIRM_ADDED on, signed in as an author; jobs run with the same settings."""
    rt = Runtime(settings.replace(SMS_CONFIRM_ADDED=True))
    jobs.install(rt)
    client = create_app(rt.settings, rt).test_client()
    AuthActions(client).login("author")
    yield client
    jobs.install(None)
    rt.close()


def test_with_sms_confirm_added_each_added_number_is_texted_once(confirming, queue, db, sandbox_client):
    token = csrf_token(confirming, "/subscribers/")
    confirming.post("/subscribers/", data={"phone": "+15125551267", "lists": ["media"], "csrf_token": token})
    csv = b"+15125550101,Ann,public\n+15125551267,,media\n"
    confirming.post("/subscribers/import", data={"csrf_token": token, "file": (io.BytesIO(csv), "people.csv")},
                    content_type="multipart/form-data")
    confirming.post("/subscribers/", data={"phone": "+15125551267", "lists": ["public"], "csrf_token": token})
    for _ in range(2):  # a job run twice sends nothing twice
        jobs.make_worker([queue], queue.connection).work(burst=True)
    sent = sorted((m["to"], m["body"]) for m in sandbox_client.accepted("twilio"))
    words = "Scott & White: you were added to {} alerts by Scott & White. Reply STOP to opt out."
    assert sent == [("+15125550101", words.format("public")), ("+15125551267", words.format("media, public"))]
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "confirmation")).all()
    assert sorted((e.outcome, e.target) for e in events) == [("sent", "+1 ••••••••01"), ("sent", "+1 ••••••••67")]
    db.expire_all()
    assert {s.confirmation for s in db.scalars(select(Subscriber))} == {"sent"}


def test_no_confirmation_is_sent_by_default_or_for_a_keyword_join(client, auth, queue, db):
    auth.login("author")
    client.post("/subscribers/", data={"phone": "+15125551267", "lists": ["public"],
                                       "csrf_token": csrf_token(client, "/subscribers/")})
    assert queue.count == 0 and db.scalar(select(Subscriber)).confirmation is None


def test_admin_sets_a_lists_send_order_and_a_bad_one_is_explained(client, auth, db):
    auth.login("admin")
    media = db.scalar(select(SubscriberList).where(SubscriberList.name == "media"))
    token = csrf_token(client, "/subscribers/")
    page = client.post(f"/subscribers/lists/{media.id}", data={"public": "1", "priority": "5", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Send order 5 (1 first)." in page
    assert 'name="priority" min="1" max="999" maxlength="3"' in page
    page = client.post(f"/subscribers/lists/{media.id}", data={"public": "1", "priority": "x" * 5000,
                                                                "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "The send order is a whole number from 1 (sent first) to 999" in page
    db.expire_all()
    assert media.priority == 5
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "list_priority"))
    assert (event.actor, event.target, event.message) == ("admin", "media", "send order 20 → 5")
