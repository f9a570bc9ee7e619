"""Sign-in, sign-out and roles; every attempt is audited; sessions end server-side."""
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crisiscast.store.models import AuditEvent, UserSession, utcnow
from tests.conftest import PASSWORD, AuthActions, csrf_token


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


def cookie(client) -> str:
    """The session cookie `client` holds now, to replay later as a thief would."""
    return client.get_cookie("session").value


def replay(app, value: str):
    """A request to the dashboard from another browser carrying a captured session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", value)
    return thief.get("/")


def signed_in(app, username: str) -> tuple:
    """A fresh browser signed in as `username`, and its session cookie."""
    browser = app.test_client()
    AuthActions(browser).login(username)
    return browser, cookie(browser)


def test_a_cookie_from_before_sign_out_is_refused(app, client, auth):
    auth.login("author")
    kept = cookie(client)
    assert replay(app, kept).status_code == 200
    auth.logout()
    assert replay(app, kept).status_code == 302


def test_sign_out_ends_only_that_browser(app, users):
    phone, _ = signed_in(app, "author")
    desk, desk_cookie = signed_in(app, "author")
    AuthActions(phone).logout()
    assert replay(app, desk_cookie).status_code == 200


def test_sign_out_everywhere_ends_every_session_this_one_included(app, users, db):
    phone, phone_cookie = signed_in(app, "author")
    _, desk_cookie = signed_in(app, "author")
    _, other_user = signed_in(app, "viewer")
    response = phone.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(phone, "/account")})
    assert response.headers["Location"] == "/login"
    assert [replay(app, c).status_code for c in (phone_cookie, desk_cookie, other_user)] == [302, 302, 200]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "sign_out"))
    assert (event.actor, event.message) == ("author", "everywhere; 2 sessions ended")


def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(app, users):
    phone, phone_cookie = signed_in(app, "author")
    _, desk_cookie = signed_in(app, "author")
    response = phone.post("/account/password", data={"current": PASSWORD, "password": "amber kettle violin",
                                                      "csrf_token": csrf_token(phone, "/account")})
    assert response.status_code == 302
    assert "Your password is changed." in phone.get("/account").get_data(as_text=True)
    assert [replay(app, c).status_code for c in (phone_cookie, desk_cookie)] == [302, 302]
    assert replay(app, cookie(phone)).status_code == 200


@pytest.mark.parametrize("password, message", [
    ("short one", "Use at least 12 characters."),
    ("author author author", "The password must not contain the username."),
    ("passwordpassword", "This password is too easy to guess."),
    (PASSWORD, "Choose a password different from the current one."),
])
def test_a_weak_new_password_is_refused_and_changes_nothing(client, auth, password, message):
    auth.login("author")
    kept = cookie(client)
    response = client.post("/account/password", data={"current": PASSWORD, "password": password,
                                                       "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert replay(client.application, kept).status_code == 200


def test_a_wrong_current_password_is_refused(client, auth):
    auth.login("author")
    response = client.post("/account/password", data={"current": "not my password", "password": "amber kettle violin",
                                                       "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 422 and "That is not your current password." in response.get_data(as_text=True)
    auth.logout()
    assert auth.login("author").headers["Location"] == "/"


@pytest.mark.parametrize("change", [
    {"role": "author", "active": "1"},  # a role change
    {"role": "viewer"},  # switched off
    {"role": "viewer", "active": "1", "password": "amber kettle violin"},  # a new password set by an admin
])
def test_an_admins_change_ends_the_accounts_sessions(app, users, change):
    _, kept = signed_in(app, "viewer")
    admin, _ = signed_in(app, "admin")
    admin.post(f"/admin/users/{users['viewer'].id}", data={**change, "csrf_token": csrf_token(admin, "/admin/users")})
    assert replay(app, kept).status_code == 302


def test_re_enabling_an_account_does_not_revive_its_old_cookies(app, users, db):
    _, kept = signed_in(app, "viewer")
    admin, _ = signed_in(app, "admin")
    for active in ({}, {"active": "1"}):
        admin.post(f"/admin/users/{users['viewer'].id}",
                   data={"role": "viewer", **active, "csrf_token": csrf_token(admin, "/admin/users")})
    db.expire_all()
    assert users["viewer"].active
    assert replay(app, kept).status_code == 302


def test_an_admin_who_sets_their_own_password_stays_signed_in_here_only(app, users):
    admin, before = signed_in(app, "admin")
    admin.post(f"/admin/users/{users['admin'].id}", data={"role": "admin", "active": "1",
                                                          "password": "amber kettle violin",
                                                          "csrf_token": csrf_token(admin, "/admin/users")})
    assert admin.get("/admin/users").status_code == 200
    assert replay(app, before).status_code == 302


def age(db, **ago) -> None:
    """Move every session's timestamps back: `created`/`seen` timedelta ago."""
    now = utcnow()
    values = {"created_at": now - ago.get("created", timedelta()), "last_seen_at": now - ago.get("seen", timedelta())}
    db.execute(update(UserSession).values(**values))
    db.commit()


@pytest.mark.parametrize("ago, status", [
    ({"seen": timedelta(hours=11, minutes=59)}, 200),
    ({"seen": timedelta(hours=12, minutes=1)}, 302),  # idle past SESSION_IDLE_HOURS (12)
    ({"created": timedelta(hours=23, minutes=59)}, 200),
    ({"created": timedelta(hours=24, minutes=1)}, 302),  # older than SESSION_MAX_HOURS (24), though busy
])
def test_a_session_ends_when_idle_or_too_old(client, auth, db, ago, status):
    auth.login("author")
    age(db, **ago)
    assert client.get("/").status_code == status
    db.expire_all()
    assert len(db.scalars(select(UserSession)).all()) == (1 if status == 200 else 0)


def test_the_session_cookie_holds_no_user_id(client, auth, users, db):
    auth.login("author")
    stored = db.scalar(select(UserSession))
    assert stored.user_id == users["author"].id and len(stored.token_hash) == 64
    with client.session_transaction() as session:
        assert "user_id" not in session and len(session["_user_id"]) >= 40
        assert hashlib.sha256(session["_user_id"].encode()).hexdigest() == stored.token_hash


def test_a_forged_cookie_with_a_bare_user_id_signs_nobody_in(client, users):
    with client.session_transaction() as session:
        session["user_id"] = users["admin"].id
        session["_user_id"] = str(users["admin"].id)
    assert client.get("/admin/users").status_code == 302


def test_the_account_page_is_linked_from_the_header_and_shows_the_sessions(app, client, auth):
    signed_in(app, "author")
    auth.login("author")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/account"' in page
    account = client.get("/account").get_data(as_text=True)
    assert "You are signed in on 2 browsers." in account and "Sign out everywhere" in account
