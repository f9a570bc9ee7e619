"""Headers: no-store on every signed-in page, public files cacheable, HSTS in production only, and the client's
address taken from X-Forwarded-For only behind as many proxies as TRUSTED_PROXIES trusts."""
import pytest
from sqlalchemy import select

from crisiscast.public import site
from crisiscast.runtime import Runtime
from crisiscast.store.models import AuditEvent
from crisiscast.web import create_app
from tests.conftest import PASSWORD, csrf_token
from tests.support import approvals
from tests.web.test_console import compose_form

PUBLIC = ("/status", "/feed.rss", "/feed.atom", "/feed.json", "/have.xml", "/cap/index.atom")
LONG_KEY = "k" * 64


def console_pages(app, update, delivery, request_id: int) -> list[str]:
    """Every page of the app a signed-in user can GET, from its URL map: a new page is covered as it is added."""
    values = {"update_id": update.id, "delivery_id": delivery.id, "template_id": 1,  # 1: a seeded starter
              "request_id": request_id, "incident_id": update.incident_id}
    with app.test_request_context():
        from flask import url_for

        return sorted({url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
                       for rule in app.url_map.iter_rules()
                       if "GET" in rule.methods and rule.endpoint != "static"
                       and not rule.endpoint.startswith("public.")})


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_every_signed_in_page_is_no_store(app, client, auth, publish, role, db, users, settings):
    update = publish(queued=False)
    request = approvals.ask(db, settings, users["author"])
    auth.login(role)
    pages = console_pages(app, update, update.deliveries[0], request.id)
    assert "/audit.csv" in pages and f"/updates/{update.id}" in pages and "/admin/users" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 403), path
        assert response.headers["Cache-Control"] == "no-store", path


def test_a_refused_form_sent_back_with_what_was_typed_is_no_store(client, auth):
    auth.login()
    form = compose_form(client, er_access="on_fire", body="Code silver, ward 3")
    refused = client.post("/updates/new", data={**form, "action": "preview"})
    assert refused.status_code == 422 and "Code silver, ward 3" in refused.get_data(as_text=True)
    assert refused.headers["Cache-Control"] == "no-store"


def test_public_files_stay_cacheable_signed_in_or_not(client, auth, db, settings, publish):
    update = publish(queued=False)
    for signed_in in (False, True):
        if signed_in:
            auth.login()
        # Rendered on the spot by the app (no file yet), then served from the files.
        for path in (f"/u/{update.uid}", "/status", "/feed.rss"):
            assert "no-store" not in client.get(path).headers.get("Cache-Control", ""), path
        site.refresh(lambda: db, settings)
        for path in PUBLIC:
            response = client.get(path)
            assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=10", path


def test_no_hsts_outside_production(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    assert "Strict-Transport-Security" not in client.get("/status").headers


def production_app(settings, **changes):
    live = settings.replace(CRISISCAST_ENV="production", SECRET_KEY=LONG_KEY, **changes)
    runtime = Runtime(live)
    return create_app(live, runtime), runtime


def test_hsts_on_every_answer_in_production(settings, db, publish):
    publish(queued=False)
    app, runtime = production_app(settings)
    try:
        site.refresh(runtime.sessions, runtime.settings)
        client = app.test_client()
        for path in ("/login", "/", "/status", "/feed.atom", "/no-such-page"):
            assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path
        quiet, other = production_app(settings, HSTS_MAX_AGE=0)
        assert "Strict-Transport-Security" not in quiet.test_client().get("/login").headers
        other.close()
    finally:
        runtime.close()


def sign_in_from(app, remote_addr: str, forwarded_for: str) -> str:
    """Sign in through a proxy at `remote_addr` that says the client was `forwarded_for`; the audited address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote_addr
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    client.post("/login", data={"username": "author", "password": PASSWORD,
                                "csrf_token": csrf_token(client, "/login")})
    runtime = app.extensions["crisiscast"]
    with runtime.sessions() as session:
        return session.scalars(select(AuditEvent.target).where(AuditEvent.action == "sign_in", AuditEvent.outcome == "ok")
                               .order_by(AuditEvent.id.desc())).first()


def test_behind_one_trusted_proxy_the_audited_address_is_the_client_it_saw(settings, users):
    live = settings.replace(TRUSTED_PROXIES=1)
    runtime = Runtime(live)
    try:
        app = create_app(live, runtime)
        assert sign_in_from(app, "10.0.0.2", "203.0.113.9") == "203.0.113.9"
        # A client's own X-Forwarded-For comes first; nginx appends the address it saw, the only one trusted.
        assert sign_in_from(app, "10.0.0.2", "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    finally:
        runtime.close()


def test_with_no_trusted_proxy_a_forwarded_for_header_is_ignored(app, users):
    assert sign_in_from(app, "10.0.0.2", "203.0.113.9") == "10.0.0.2"
