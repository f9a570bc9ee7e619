"""The subscribers page: counts per list, search, add and remove, CSV import with its report."""
import io
import re

from sqlalchemy import select

from crisiscast.store.models import AuditEvent, Subscriber, SubscriberList
from tests.conftest import csrf_token


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
