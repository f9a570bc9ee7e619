"""Sign-in, sign-out and roles; every attempt is audited."""
import time

import pytest
from sqlalchemy import select

from crisiscast.store.models import AuditEvent
from tests.conftest import csrf_token


@pytest.mark.parametrize("path", ["/", "/updates/new", "/audit", "/audit.csv", "/subscribers/", "/admin/users",
                                  "/updates/1"])
def test_every_console_page_requires_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_sign_in_and_out_are_audited(client, auth, db):
    assert auth.login("author").headers["Location"] == "/"
    assert client.get("/").status_code == 200
    auth.logout()
    assert client.get("/").status_code == 302
    events = [(e.actor, e.action, e.outcome) for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events[-2:] == [("author", "sign_in", "ok"), ("author", "sign_out", "ok")]


def test_failed_sign_in_is_refused_kept_and_summarised_in_the_audit_log(client, auth, db, runtime):
    response = auth.login("author", "wrong password")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Wrong username or password." in page and 'value="author"' in page
    runtime.refusals().flush(runtime.sessions, now=time.time() + 60)  # the minute closed
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "sign_in"))
    assert (event.actor, event.outcome, event.target) == ("system", "refused", "127.0.0.1")
    assert event.message.startswith("1 refused sign-in from 127.0.0.1") and event.message.endswith("tried: author")
    assert "wrong password" not in event.message


def test_disabled_account_cannot_sign_in(client, auth, users, db):
    users["viewer"].active = False
    db.commit()
    assert auth.login("viewer").status_code == 200
    assert client.get("/").status_code == 302


def test_next_only_follows_local_paths(client, users):
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/", data={"username": "author", "password":
                                                                "correct horse battery", "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("role, path, status", [("viewer", "/admin/users", 403), ("author", "/admin/users", 403),
                                                ("admin", "/admin/users", 200), ("viewer", "/audit", 200)])
def test_roles(client, auth, role, path, status):
    auth.login(role)
    assert client.get(path).status_code == status
