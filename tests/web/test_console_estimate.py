"""The composer's fan-out estimate: all segments over the sender's segments per second, naming the sender type."""
import html
import re

import pytest

from crisiscast import jobs
from crisiscast.runtime import Runtime
from crisiscast.sandbox.state import Credentials
from crisiscast.web import create_app, duration
from tests.conftest import AuthActions
from tests.web.test_console import compose_form


@pytest.fixture
def console_with(settings, users, sandbox_client):
    """An author's client of an app with some settings changed."""
    built = []

    def make(**changes):
        rt = Runtime(settings.replace(**changes))
        jobs.install(rt)
        built.append(rt)
        client = create_app(rt.settings, rt).test_client()
        AuthActions(client).login("author")
        return client

    yield make
    jobs.install(None)
    for rt in built:
        rt.close()


def estimate_of(client, **form) -> str:
    page = client.post("/updates/new", data={**compose_form(client, **form), "action": "preview"})
    assert page.status_code == 200
    found = re.search(r'<p id="sms-estimate">(.*?)</p>', page.get_data(as_text=True), re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", " ".join(found.split())))


THREE_GSM = "Avoid the main campus. " * 13  # with the headline and link: 3 GSM-7 segments
UNICODE = "Évitez le campus — n’approchez pas 🚨"  # an emoji: UCS-2, 67 characters a segment


@pytest.mark.parametrize("changes, body, says", [
    ({}, "Stay indoors.", "To 40 recipients on public · 40 segments in all · about 40 s at 1 segment/s, a long code"),
    ({}, THREE_GSM, "To 40 recipients on public · 120 segments in all · about 2 min 0 s at 1 segment/s, "
                      "a long code"),
    ({"SMS_SENDER_RATE": 3, "SMS_SENDER_TYPE": "toll_free"}, UNICODE,
     "To 40 recipients on public · 120 segments in all · about 40 s at 3 segments/s, a toll-free number"),
    ({"SMS_SENDER_RATE": 225, "SMS_SENDER_TYPE": "10dlc",
      "TWILIO_MESSAGING_SERVICE_SID": Credentials().twilio_messaging_service_sid}, THREE_GSM,
     "To 40 recipients on public · 120 segments in all · about 1 s at 225 segments/s, "
     "a Messaging Service's pool of 10DLC numbers"),
    ({"SMS_SENDER_RATE": 1000, "SMS_SENDER_TYPE": "short_code"}, "Stay indoors.",
     "To 40 recipients on public · 40 segments in all · about 0 s at 1,000 segments/s, a short code"),
])
def test_the_preview_divides_segments_by_the_rate_and_names_the_sender(console_with, subscribe, changes, body, says):
    subscribe(*[f"+1512555{i:04d}" for i in range(40)])
    client = console_with(**{"SMS_SENDER_RATE": 1, **changes})
    assert estimate_of(client, body=body) == says


@pytest.mark.parametrize("seconds, words", [(0, "0 s"), (59.4, "59 s"), (60, "1 min 0 s"), (3599, "59 min 59 s"),
                                            (3600, "1 h 0 min"), (86399, "23 h 59 min"), (86400, "1 day 0 h"),
                                            (1_000_000, "11 days 13 h")])
def test_a_fan_out_time_reads_in_the_largest_units_that_fit(seconds, words):
    assert duration(seconds) == words
