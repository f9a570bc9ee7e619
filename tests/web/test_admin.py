"""Admins manage accounts; authors manage the subscriber list; each change is audited."""
from sqlalchemy import select

from crisiscast.store.models import AuditEvent, User
from tests.conftest import csrf_token


def test_admin_creates_an_account_that_can_sign_in(client, auth, db):
    auth.login("admin")
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data={"username": "Jane.Doe", "role": "author",
                                                  "password": "a long enough password", "csrf_token": token})
    assert response.status_code == 302
    assert db.scalar(select(User).where(User.username == "jane.doe")).role == "author"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "user_created",
                                              AuditEvent.target == "jane.doe")).actor == "admin"


def test_bad_account_form_keeps_input_and_explains(client, auth):
    auth.login("admin")
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data={"username": "author", "role": "boss", "password": "short",
                                                  "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is already an account named author." in page
    assert "Choose one of: viewer, author, admin." in page and "Use at least 12 characters." in page


def test_admin_changes_a_role_and_cannot_demote_themself(client, auth, users, db):
    auth.login("admin")
    token = csrf_token(client, "/admin/users")
    client.post(f"/admin/users/{users['viewer'].id}", data={"role": "author", "active": "1", "csrf_token": token})
    client.post(f"/admin/users/{users['admin'].id}", data={"role": "viewer", "active": "1", "csrf_token": token})
    db.expire_all()
    assert db.get(User, users["viewer"].id).role == "author"
    assert db.get(User, users["admin"].id).role == "admin"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "user_changed")).message == "viewer → author"


def test_a_weak_password_keeps_the_other_fields_and_says_why(client, auth, db):
    auth.login("admin")
    token = csrf_token(client, "/admin/users")
    response = client.post("/admin/users", data={"username": "nurse.lee", "role": "viewer",
                                                  "password": "nurse.lee rocks", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "The password must not contain the username." in page
    assert 'value="nurse.lee"' in page and '<option value="viewer" selected>' in page
    assert db.scalar(select(User).where(User.username == "nurse.lee")) is None


def test_a_rejected_password_does_not_grant_the_new_role(client, auth, users, db):
    auth.login("admin")
    token = csrf_token(client, "/admin/users")
    response = client.post(f"/admin/users/{users['viewer'].id}", data={
        "role": "admin", "active": "1", "password": "password1234", "csrf_token": token})
    assert "This password is too easy to guess." in client.get(response.headers["Location"]).get_data(as_text=True)
    db.expire_all()
    assert db.get(User, users["viewer"].id).role == "viewer"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "user_changed")) is None
