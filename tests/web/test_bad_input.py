"""Bad input gets a clear 4xx and loses nothing: huge ids, NUL bytes, overlong fields, oversized requests."""
import pytest
from sqlalchemy import func, select

from crisiscast.store.models import AuditEvent, Subscriber, Update
from tests.conftest import csrf_token
from tests.support import routes
from tests.web.test_webhooks import signed_post, text

HUGE_IDS = ("2147483648", "9223372036854775808", "99999999999999999999")


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_an_id_no_database_can_hold_is_a_404_on_every_int_route(app, client, auth, huge):
    auth.login("admin")
    token = csrf_token(client, "/")
    checked = 0
    for rule in app.url_map.iter_rules():
        for name in routes.int_variables(rule):
            path = routes.path_for(rule, {name: huge})
            for method in routes.methods(rule):
                response = client.open(path, method=method, data={"csrf_token": token})
                assert response.status_code == 404, f"{method} {path}: {response.status_code}"
                assert "There is nothing at this address" in response.get_data(as_text=True)
                checked += 1
    assert checked >= 6


@pytest.mark.parametrize("query", ["update=9223372036854775808", "update=%C2%B2", "update=2147483648"])
def test_an_audit_filter_that_is_no_id_is_ignored(client, auth, query):
    auth.login("viewer")
    assert client.get(f"/audit?{query}").status_code == 200
    response = client.get(f"/audit.csv?{query}")
    assert response.status_code == 200
    response.close()


@pytest.mark.parametrize("path", ["/u/%00", "/u/a%00b", "/cap/%00.xml", "/incidents/%00/feed.rss", "/login?x=%00",
                                  "/status?x=%00"])
def test_a_nul_byte_in_an_address_is_a_400_for_anyone(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)


def test_a_nul_byte_in_the_sign_in_form_is_a_refused_sign_in(client, users, db):
    response = client.post("/login", data={"username": "auth\x00or", "password": "x\x00y",
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 200 and "Wrong username or password." in response.get_data(as_text=True)
    # Refused sign-ins are counted and summarised per address and minute (no row each); none signed in.
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sign_in")) is None


def test_an_overlong_username_is_refused_and_not_echoed(client, users):
    response = client.post("/login", data={"username": "u" * 100_000, "password": "whatever",
                                           "csrf_token": csrf_token(client, "/login")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "The username is 100000 characters; the limit is 80." in page
    assert "u" * 81 not in page


def test_a_request_larger_than_max_content_length_is_a_413_page(client, settings):
    assert settings.MAX_CONTENT_LENGTH == 6 * 1024 * 1024
    response = client.post("/login", data={"username": "u" * (7 * 1024 * 1024), "password": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 413 and "too large to accept" in page and "Nothing was saved" in page


def test_friendly_pages_for_403_404_and_405(client, auth):
    auth.login("viewer")
    refused = client.get("/admin/users")
    assert refused.status_code == 403 and "role does not allow this" in refused.get_data(as_text=True)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "There is nothing at this address" in missing.get_data(as_text=True)
    wrong = client.get("/subscribers/import")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert "does not accept that kind of request" in wrong.get_data(as_text=True)


def test_a_subscriber_name_longer_than_its_column_is_refused_and_the_form_kept(client, auth, db):
    auth.login("author")
    response = client.post("/subscribers/", data={"phone": "512 555 0188", "name": "N" * 121, "lists": ["public"],
                                                  "csrf_token": csrf_token(client, "/subscribers/")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "The name is 121 characters; the limit is 120." in page
    assert 'value="512 555 0188"' in page
    assert db.scalar(select(Subscriber)) is None


def test_a_csv_import_with_one_bad_line_imports_the_rest_and_reports_it(client, auth, db):
    auth.login("author")
    lines = ["number,name,lists"] + [f"+1512555{1000 + i:04d},Person {i},public" for i in range(1000)]
    lines[501] = f"+15125559999,{'L' * 200},public"
    lines[700] = "+15125559998," + "x" * 5000
    response = client.post("/subscribers/import", data={"csv": "\n".join(lines) + "\n",
                                                        "csrf_token": csrf_token(client, "/subscribers/")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "998 added" in page and "2 rejected" in page
    assert "The name is 200 characters; the limit is 120." in page and "a line holds at most 1000" in page
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 998


def test_a_retraction_reason_over_200_characters_is_refused_not_cut(client, auth, publish, db):
    update = publish(queued=False)
    auth.login("author")
    response = client.post(f"/updates/{update.id}/retract", data={"reason": "r" * 201,
                                                                  "csrf_token": csrf_token(client, "/")},
                           follow_redirects=True)
    assert "The reason is 201 characters; the limit is 200." in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Update, update.id).retracted_at is None


def test_a_compose_form_that_lost_its_identifier_keeps_what_was_typed(client, auth):
    auth.login("author")
    response = client.post("/updates/new", data={**routes.UPDATE_FORM, "uid": "\x00", "headline": "Keep me",
                                                 "csrf_token": csrf_token(client, "/updates/new")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'value="Keep me"' in page and "lost its identifier" in page


def test_webhook_fields_longer_than_twilio_sends_are_a_400_and_not_audited(client, settings, db):
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    response = text(client, settings, "JOIN " + "x" * 5_000_000)
    assert response.status_code in (400, 413)
    long_error = signed_post(client, settings, "/webhooks/twilio/status",
                             {"MessageSid": "SM" + "c" * 32, "MessageStatus": "failed", "ErrorCode": "3" * 40})
    assert long_error.status_code == 400 and "ErrorCode is 40 characters" in long_error.get_data(as_text=True)
    long_sid = signed_post(client, settings, "/webhooks/twilio/status",
                           {"MessageSid": "SM" + "c" * 200, "MessageStatus": "failed"})
    assert long_sid.status_code == 400
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_nul_byte_in_a_webhook_field_is_removed(client, settings, db):
    assert text(client, settings, "JO\x00IN", sender="+1512555\x001267").status_code == 200
    assert db.scalar(select(Subscriber)).phone == "+15125551267"
    receipt = signed_post(client, settings, "/webhooks/twilio/status?r=%C2%B2",
                          {"MessageSid": "SM\x00" + "d" * 32, "MessageStatus": "delivered", "To": "\x00"})
    assert receipt.status_code == 204


def test_a_value_the_database_refuses_is_a_400_and_rolled_back(app, client, db):
    """The last line of defence for a route that forgot a check: PostgreSQL's 'value too long' is not a 500."""

    @app.get("/_refused")
    def refused():
        from flask import g
        from sqlalchemy.exc import DataError
        g.db = db
        raise DataError("INSERT INTO subscribers …", {}, Exception("value too long for type character varying(120)"))

    response = client.get("/_refused")
    assert response.status_code == 400 and "Nothing was saved or sent" in response.get_data(as_text=True)
