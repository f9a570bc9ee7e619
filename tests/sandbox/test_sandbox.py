"""The sandbox agrees with Twilio's OpenAPI description and holds its latency, concurrency and fault settings."""
import json
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from crisiscast.sandbox.state import Credentials
from tests.support.faultkit import wait_until

# Twilio's OpenAPI description (MIT, see twilio_api_v2010.LICENSE beside it), vendored so the test always runs.
SPEC = Path(__file__).resolve().parents[1] / "specs" / "twilio_api_v2010.json"
CREDS = Credentials()
MESSAGES = f"/2010-04-01/Accounts/{CREDS.twilio_account_sid}/Messages.json"
AUTH = (CREDS.twilio_account_sid, CREDS.twilio_auth_token)


@pytest.fixture(scope="module")
def spec():
    return json.loads(SPEC.read_text())


def send_sms(url, to="+15125551267", body="hello", auth=AUTH):
    return requests.post(url + MESSAGES, data={"To": to, "From": "+15005550006", "Body": body}, auth=auth, timeout=10)


def test_created_message_matches_the_spec_schema(sandbox, sandbox_client, spec):
    response = send_sms(sandbox.url, body="Shelter in place 🚨 " * 5)
    assert response.status_code == 201
    schema = spec["components"]["schemas"]["api.v2010.account.message"]
    body = response.json()
    assert set(body) == set(schema["properties"])
    assert body["status"] in spec["components"]["schemas"]["message_enum_status"]["enum"]
    assert re.fullmatch(schema["properties"]["sid"]["pattern"], body["sid"])
    assert body["num_segments"] == "2" and body["direction"] == "outbound-api"
    for field in ("date_created", "date_updated"):
        assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body[field])


def test_create_requires_the_fields_the_spec_requires(sandbox, sandbox_client, spec):
    required = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]["requestBody"][
        "content"]["application/x-www-form-urlencoded"]["schema"]["required"]
    assert required == ["To"]
    response = requests.post(sandbox.url + MESSAGES, data={"From": "+15005550006", "Body": "x"}, auth=AUTH, timeout=5)
    assert (response.status_code, response.json()["code"]) == (400, 21604)


def test_errors_have_twilios_shape(sandbox, sandbox_client):
    bad_to = send_sms(sandbox.url, to="5125551267")
    assert bad_to.status_code == 400
    assert bad_to.json() == {"code": 21211, "message": "Invalid 'To' Phone Number: 5125551267",
                             "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
    assert send_sms(sandbox.url, auth=(CREDS.twilio_account_sid, "wrong")).json()["code"] == 20003


def test_message_list_filters_by_to(sandbox, sandbox_client):
    send_sms(sandbox.url, to="+15125551267")
    send_sms(sandbox.url, to="+15125550188")
    listed = requests.get(sandbox.url + MESSAGES, params={"To": "+15125550188"}, auth=AUTH, timeout=5).json()
    assert [m["to"] for m in listed["messages"]] == ["+15125550188"]


def test_past_the_concurrency_limit_twilio_answers_429_with_20429(sandbox, sandbox_client):
    sandbox_client.configure(latency_ms=3000, concurrency=2)
    results = []
    threads = [threading.Thread(target=lambda: results.append(send_sms(sandbox.url))) for _ in range(2)]
    for t in threads:
        t.start()
    # The next three go only once both slots are taken, however slowly this machine starts threads.
    wait_until(lambda: sandbox_client.stats()["in_flight"].get("twilio") == 2, what="two requests in flight")
    results.extend(send_sms(sandbox.url) for _ in range(3))
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 429, 429, 429]
    assert {r.json()["code"] for r in results if r.status_code == 429} == {20429}
    assert sandbox_client.stats()["counters"]["twilio.rejected_concurrency"] == 3


def test_latency_is_applied(sandbox, sandbox_client):
    sandbox_client.configure(latency_ms=200)
    started = time.monotonic()
    send_sms(sandbox.url)
    assert time.monotonic() - started >= 0.2


def test_fault_rate_fails_about_that_share(sandbox, sandbox_client):
    sandbox_client.configure(faults={"twilio": {"rate": 0.5, "kinds": ["500", "503"]}})
    codes = [send_sms(sandbox.url).status_code for _ in range(200)]
    failed = sum(c >= 500 for c in codes)
    assert 60 < failed < 140
    assert len(sandbox_client.accepted("twilio")) == 200 - failed


def test_unknown_settings_are_refused(sandbox, sandbox_client):
    response = requests.post(sandbox.url + "/_sandbox/config", json={"faults": {"twilio": {"kinds": ["gremlins"]}}},
                             timeout=5)
    assert response.status_code == 400 and "gremlins" in response.json()["error"]


def test_x_requires_an_oauth1_header(sandbox, sandbox_client):
    response = requests.post(sandbox.url + "/2/tweets", json={"text": "hi"}, timeout=5)
    assert response.status_code == 401 and response.json()["title"] == "Unauthorized"


def test_inbox_shows_what_recipients_saw_escaped(sandbox, sandbox_client):
    send_sms(sandbox.url, body="<script>alert(1)</script> ER open")
    page = requests.get(sandbox.url + "/", timeout=5).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ER open" in page and "<script>alert" not in page
