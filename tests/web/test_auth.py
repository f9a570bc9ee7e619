"""Sign-in, sign-out and roles; every attempt is audited."""
import pytest
from sqlalchemy import select

from crisiscast.store.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token


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


def test_failed_sign_in_is_refused_kept_and_audited(client, auth, db):
    response = auth.login("author", "wrong password")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Wrong username or password." in page and 'value="author"' in page
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "sign_in"))
    assert (event.actor, event.outcome) == ("author", "refused")
    assert "wrong password" not in event.message


def test_disabled_account_cannot_sign_in(client, auth, users, db):
    users["viewer"].active = False
    db.commit()
    assert auth.login("viewer").status_code == 200
    assert client.get("/").status_code == 302


def test_next_only_follows_local_paths(client, users):
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/", data={"username": "author", "password": PASSWORD,
                                                                "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("role, path, status", [("viewer", "/admin/users", 403), ("author", "/admin/users", 403),
                                                ("admin", "/admin/users", 200), ("viewer", "/audit", 200)])
def test_roles(client, auth, role, path, status):
    auth.login(role)
    assert client.get(path).status_code == status


# Each of these, after the browser's own clean-up (tabs and line breaks dropped, backslash read as slash,
# spaces trimmed), would leave the site or break the response; every one must land on the dashboard.
OPEN_REDIRECTS = [
    "/%09/evil.example/", "//evil.example/", "/%5Cevil.example/", "/%5C%5Cevil.example/", "%5C%5Cevil.example",
    "/%09%09/evil.example", "%09//evil.example", "%20//evil.example", "/%0A/evil.example", "/%0D/evil.example",
    "///evil.example", "%2F%2Fevil.example", "https:evil.example", "https://evil.example/", "http:/evil.example",
    "javascript:alert(1)", "evil.example", "/%0D%0ASet-Cookie:%20x=1", "/%0D%0A", "/%E2%80%A8/evil.example",
    "/%00/evil.example", "/%E3%80%80/evil.example", "//%09evil.example",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_next_never_leaves_the_site(client, users, target):
    response = client.post(f"/login?next={target}", data={"username": "author", "password": PASSWORD,
                                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # signed in all the same


@pytest.mark.parametrize("target, location", [("/updates/new", "/updates/new"),
                                              ("/audit%3Fchannel%3Dsms", "/audit?channel=sms"),
                                              ("/%2509/x", "/%09/x")])
def test_next_follows_a_path_on_this_site(client, users, target, location):
    response = client.post(f"/login?next={target}", data={"username": "author", "password": PASSWORD,
                                                           "csrf_token": csrf_token(client, "/login")})
    assert response.headers["Location"] == location


def test_a_sign_in_link_from_a_console_page_comes_back_to_it(client, users):
    assert client.get("/audit?channel=sms").headers["Location"] == "/login?next=/audit?channel%3Dsms"
    response = client.post("/login?next=/audit?channel%3Dsms", data={
        "username": "author", "password": PASSWORD, "csrf_token": csrf_token(client, "/login")})
    assert response.headers["Location"] == "/audit?channel=sms"
