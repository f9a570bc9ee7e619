"""The sender rate counts segments (Twilio's MPS): a text of n segments takes n turns, through the SMS channel too.

Each test reads the sender's theoretical arrival time in Redis: every turn granted moves it one interval on, so
after sends worth `total` turns it stands at least `total` intervals past the Redis clock before the first.
"""
import time
import uuid

import pytest

from crisiscast.channels import Message
from crisiscast.core.textlimits import count_sms
from crisiscast.sending.throttle import Limits, Throttle


def redis_now_us(connection) -> int:
    seconds, micros = connection.time()
    return seconds * 1_000_000 + micros


def charged_us(connection, throttle: Throttle, since_us: int) -> int:
    """How far past `since_us` the sender's turns have been given out."""
    return int(connection.get(throttle.rate_key)) - since_us


def throttle_for(connection, rate: float, burst: int = 1) -> Throttle:
    sender = f"+1{uuid.uuid4().int % 10**9:09d}"  # a sender of this test's own
    return Throttle(connection, Limits(account="ACsegments", sender=sender, max_concurrency=50, rate_per_second=rate),
                    burst=burst)


@pytest.mark.parametrize("segments", [1, 3, 10])
def test_a_text_of_n_segments_takes_n_turns(runtime, queue, segments):
    connection = queue.connection
    throttle = throttle_for(connection, rate=100)
    before = redis_now_us(connection)
    started = time.monotonic()
    for _ in range(6):
        with throttle.slot(segments=segments):
            pass
    assert charged_us(connection, throttle, before) >= 6 * segments * throttle.interval_us
    assert time.monotonic() - started >= 5 * segments / 100  # the sixth waited for the first five's segments


def test_with_a_burst_reserved_turns_are_spent_whole_texts_at_a_time(runtime, queue):
    """At the burst the runtime uses for 1,000 segments/s (50), 200 texts of 3 segments take 600 turns."""
    connection = queue.connection
    throttle = throttle_for(connection, rate=1000, burst=50)
    before = redis_now_us(connection)
    started = time.monotonic()
    for _ in range(200):
        with throttle.slot(segments=3):
            pass
    assert charged_us(connection, throttle, before) >= 600 * throttle.interval_us
    # 550 turns past the burst at 1 ms each, less the 50 ms a reserved turn may wait before it is used.
    assert time.monotonic() - started >= 0.5


def test_a_text_longer_than_the_burst_goes_at_once_and_holds_the_next_back(runtime, queue):
    """A long code (1 segment/s, burst 1): a 10-segment text is not refused for exceeding the burst; it goes,
    and the sender's next turn is 10 s later. A lookup meanwhile waits for nothing."""
    connection = queue.connection
    throttle = throttle_for(connection, rate=1)
    before = redis_now_us(connection)
    with throttle.slot(segments=10):
        pass
    assert charged_us(connection, throttle, before) >= 10_000_000
    with throttle.slot(message=False):
        pass
    assert charged_us(connection, throttle, before) >= 10_000_000  # a lookup takes no turn


@pytest.mark.parametrize("segments", [1, 3, 10])
def test_one_text_takes_exactly_its_segments(runtime, queue, segments):
    """At 1 segment per 100 s the time a call takes is nothing beside a turn: the charge is n turns, not n + 1."""
    connection = queue.connection
    throttle = throttle_for(connection, rate=0.01)
    before = redis_now_us(connection)
    with throttle.slot(segments=segments):
        pass
    assert segments * 100_000_000 <= charged_us(connection, throttle, before) < (segments + 1) * 100_000_000


@pytest.mark.parametrize("text, segments", [
    ("Shelter in place. " * 8, 1),  # 144 GSM-7 characters
    ("Shelter in place 🚨 " + "Stay inside, away from windows. " * 4, 3),  # an emoji: UCS-2, 67 a part
    ("Evacuate the west wing now. " * 40, 8),
])
def test_the_sms_channel_charges_each_send_its_segments(runtime, queue, sandbox_client, text, segments):
    connection = queue.connection
    channel = runtime.channels["sms"]
    throttle = throttle_for(connection, rate=0.01)
    channel.use_gate(throttle)
    assert count_sms(text).segments == segments
    before = redis_now_us(connection)
    channel.send(Message(text=text, to="+15125550001"))
    assert segments * 100_000_000 <= charged_us(connection, throttle, before) < (segments + 1) * 100_000_000
    [sent] = sandbox_client.accepted("twilio")
    assert sent["body"] == text
