"""The route x role matrix: every route of app.url_map has a decision on who may use it, and keeps to it."""
import pytest

from crisiscast.services import accounts
from tests.conftest import PASSWORD
from tests.support import approvals, routes


@pytest.fixture
def rows(db, users, publish, subscribe, settings):
    """One row of each kind a route can name, so a permitted request finds something to act on."""
    update = publish(queued=False)
    subscriber = subscribe("+15125550100")[0]
    target = accounts.create_user(db, "target", PASSWORD + "!", "viewer", actor="test")
    return {"update_id": update.id, "delivery_id": update.deliveries[0].id, "subscriber_id": subscriber.id,
            "user_id": target.id, "incident_id": update.incident_id,
            "request_id": approvals.ask(db, settings, users["author"]).id}


def test_every_route_has_a_decision(app):
    missing = routes.missing_routes(app)
    assert not missing, (
        f"New route(s) {missing}: add each to ROUTES in tests/support/routes.py, saying who may use it "
        f"({', '.join(routes.ACCESS)}) and what a valid request carries; the fuzzer then covers it too.")
    assert not routes.unknown_routes(app), "ROUTES lists endpoints the app no longer has: remove them."
    assert all(route.access in routes.ACCESS for route in routes.ROUTES.values())


def _request(client, rule, method, rows, settings):
    route = routes.ROUTES[rule.endpoint]
    path = routes.path_for(rule, {**routes.PATH_VALUES, **rows})
    if method == "GET":
        return client.get(path, query_string=route.query)
    if route.access == "webhook":
        query = "&".join(f"{k}={v}" for k, v in route.query.items())
        signed = path + (f"?{query}" if query else "")
        return client.post(signed, data=route.form, headers={"X-Twilio-Signature": routes.sign(settings, signed,
                                                                                               route.form)})
    return client.post(path, data={**route.form, "csrf_token": routes.csrf_token(client)}, query_string=route.query)


def test_each_route_answers_each_role_as_decided(app, users, rows, settings):
    clients = {"anonymous": app.test_client(),
               **{role: routes.signed_in(app, role, PASSWORD) for role in routes.ROLES}}
    checked = 0
    for rule in app.url_map.iter_rules():
        access = routes.ROUTES[rule.endpoint].access
        if rule.endpoint in routes.SIGN_OUT:
            continue  # signing out would end the session the rest of the matrix uses: see the test below
        for method in routes.methods(rule):
            for who, client in clients.items():
                response = _request(client, rule, method, rows, settings)
                response.close()  # a streamed download holds its request context until closed
                where = f"{method} {rule.rule} as {who} ({access}): {response.status_code}"
                assert response.status_code < 500, where
                checked += 1
                if access in ("public", "anyone", "webhook"):
                    assert response.status_code != 403 and "/login" not in (response.location or ""), where
                elif who == "anonymous":
                    assert response.status_code == 302 and "/login" in response.location, where
                elif accounts.has_role(users[who], access):
                    assert response.status_code != 403, where
                else:
                    assert response.status_code == 403, where
    assert checked >= 4 * len(routes.ROUTES)


def test_webhooks_refuse_an_unsigned_request_from_anyone(app, users, rows, settings):
    for rule in app.url_map.iter_rules():
        if routes.ROUTES[rule.endpoint].access == "webhook":
            for client in (app.test_client(), routes.signed_in(app, "admin", PASSWORD)):
                path = routes.path_for(rule, rows)
                response = client.post(path, data=routes.ROUTES[rule.endpoint].form)
                assert response.status_code == 403, rule.rule


def test_signing_out_needs_no_sign_in_and_ends_on_the_sign_in_page(app, users):
    for client in (app.test_client(), routes.signed_in(app, "viewer", PASSWORD)):
        response = client.post("/logout", data={"csrf_token": routes.csrf_token(client)})
        assert response.status_code == 302 and "/login" in response.location
        assert "/login" in client.get("/").location
