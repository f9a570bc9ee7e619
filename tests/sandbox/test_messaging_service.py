"""The sandbox speaks Twilio's Messaging Service: MessagingServiceSid instead of From, the `accepted` initial
status with no callback for it, then queued/sent/delivered, and a pool of From numbers it spreads messages over."""
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

from crisiscast.sandbox.state import Credentials
from tests.support.faultkit import wait_until

CREDS = Credentials()
SERVICE = CREDS.twilio_messaging_service_sid
POOL = CREDS.twilio_sender_pool
MESSAGES = f"/2010-04-01/Accounts/{CREDS.twilio_account_sid}/Messages.json"
AUTH = (CREDS.twilio_account_sid, CREDS.twilio_auth_token)


def create(sandbox, **form):
    return requests.post(sandbox.url + MESSAGES, data={"To": "+15125551267", "Body": "Shelter in place", **form},
                         auth=AUTH, timeout=10)


def test_a_message_through_the_service_is_accepted_with_its_pool_number_chosen_later(sandbox, sandbox_client):
    response = create(sandbox, MessagingServiceSid=SERVICE)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["from"], body["messaging_service_sid"]) == ("accepted", None, SERVICE)
    fetched = requests.get(sandbox.url + MESSAGES.replace(".json", f"/{body['sid']}.json"), auth=AUTH, timeout=5).json()
    assert fetched["from"] in POOL and fetched["status"] == "queued"  # no callbacks: it moves on all the same
    [record] = sandbox_client.accepted("twilio")
    assert (record["from_given"], record["messaging_service_sid"], record["sender"]) == ("", SERVICE, fetched["from"])


def test_the_pool_shares_the_messages_and_the_list_filters_by_the_chosen_number(sandbox, sandbox_client):
    sids = [create(sandbox, MessagingServiceSid=SERVICE).json()["sid"] for _ in range(3 * len(POOL))]
    senders = Counter(r["sender"] for r in sandbox_client.accepted("twilio"))
    assert senders == {number: 3 for number in POOL}
    listed = requests.get(sandbox.url + MESSAGES, params={"To": "+15125551267", "From": POOL[1]}, auth=AUTH,
                          timeout=5).json()["messages"]
    assert len(listed) == 3 and {m["sid"] for m in listed} < set(sids)
    assert all(m["from"] == POOL[1] and m["messaging_service_sid"] == SERVICE for m in listed)


@pytest.mark.parametrize("form, code", [
    ({}, 21603),  # neither From nor MessagingServiceSid
    ({"MessagingServiceSid": "MG123"}, 21705),  # not a Messaging Service SID at all
    ({"MessagingServiceSid": "MG" + "0" * 32}, 21701),  # one this account does not have
    ({"MessagingServiceSid": SERVICE, "From": "+15125550100"}, 21606),  # From outside the service's pool
])
def test_the_sender_is_refused_as_twilio_refuses_it(sandbox, sandbox_client, form, code):
    response = create(sandbox, **form)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert sandbox_client.accepted("twilio") == []


def test_from_and_the_service_together_send_from_that_pool_number(sandbox, sandbox_client):
    """Twilio accepts both: the From must be one of the pool's numbers, and the service's settings apply."""
    body = create(sandbox, MessagingServiceSid=SERVICE, From=POOL[2]).json()
    assert (body["status"], body["from"], body["messaging_service_sid"]) == ("accepted", POOL[2], SERVICE)


@pytest.fixture
def callbacks_received():
    """A plain HTTP server standing in for our status webhook: the forms it was posted, in order."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append({k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/status", received
    server.shutdown()


@pytest.mark.parametrize("to, final", [("+15125551267", "delivered"), ("+15005550030", "undelivered")])
def test_callbacks_report_queued_sent_and_the_outcome_never_accepted(sandbox, sandbox_client, callbacks_received,
                                                                       to, final):
    url, received = callbacks_received
    sandbox_client.configure(status_callbacks=True, status_delay_ms=0)
    sid = create(sandbox, MessagingServiceSid=SERVICE, To=to, StatusCallback=url).json()["sid"]
    wait_until(lambda: len(received) == 3, timeout=30, what=lambda: f"three callbacks, got {received}")
    assert [c["MessageStatus"] for c in received] == ["queued", "sent", final]
    assert {c["MessageSid"] for c in received} == {sid}
    assert {c["MessagingServiceSid"] for c in received} == {SERVICE}
    [record] = sandbox_client.accepted("twilio")
    assert {c["From"] for c in received} == {record["sender"]} and record["sender"] in POOL


def test_a_plain_send_still_starts_queued_and_is_not_reported_queued(sandbox, sandbox_client, callbacks_received):
    url, received = callbacks_received
    sandbox_client.configure(status_callbacks=True, status_delay_ms=0)
    body = create(sandbox, From=POOL[0], StatusCallback=url).json()
    assert (body["status"], body["from"], body["messaging_service_sid"]) == ("queued", POOL[0], None)
    wait_until(lambda: len(received) == 2, timeout=30, what=lambda: f"two callbacks, got {received}")
    assert [c["MessageStatus"] for c in received] == ["sent", "delivered"]
    assert not any("MessagingServiceSid" in c for c in received)
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
