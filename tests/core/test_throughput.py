"""The fan-out estimate: every segment of every text over the sender's segments per second (MPS)."""
import pytest

from crisiscast.core.textlimits import count_sms
from crisiscast.core.throughput import SENDER_TYPES, Estimate
from crisiscast.settings import Settings


@pytest.mark.parametrize("recipients, segments, rate, seconds", [
    (1, 1, 1.0, 1.0),  # the defaults' smallest fan-out: one text, a long code
    (1, 10, 1.0, 10.0),  # the longest text Twilio allows in segments, to one number
    (10_000, 1, 1.0, 10_000.0),  # a long code: 2 h 46 min
    (10_000, 3, 1.0, 30_000.0),  # three segments take three times as long, not the same time
    (100_000, 1, 1.0, 100_000.0),
    (100_000, 10, 1.0, 1_000_000.0),
    (100_000, 3, 3.0, 100_000.0),  # toll-free
    (100_000, 3, 225.0, 100_000 * 3 / 225),  # 10DLC at the top trust score
    (100_000, 10, 1000.0, 1000.0),  # a short code with raised throughput
    (1, 1, 1000.0, 0.001),
])
def test_the_time_is_all_segments_over_the_rate(recipients, segments, rate, seconds):
    estimate = Estimate(recipients, segments, rate)
    assert estimate.total_segments == recipients * segments
    assert estimate.seconds == pytest.approx(seconds)


@pytest.mark.parametrize("text, segments", [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 153 * 10, 10),  # GSM-7: 160 alone, 153 per part
    ("ж" * 70, 1), ("ж" * 71, 2), ("ж" * 67 * 3, 3),  # UCS-2: 70 alone, 67 per part
    ("Shelter in place 🚨", 1), ("Shelter in place 🚨 " + "a" * 60, 2),  # one emoji makes the whole text UCS-2
])
def test_unicode_text_costs_ucs2_segments(text, segments):
    counted = count_sms(text).segments
    assert counted == segments
    assert Estimate(100_000, counted, 1.0).seconds == 100_000 * segments


@pytest.mark.parametrize("rate, shown", [(1.0, "1 segment/s"), (3.0, "3 segments/s"), (225.0, "225 segments/s"),
                                         (1000.0, "1,000 segments/s"), (2.5, "2.5 segments/s"),
                                         (0.5, "0.5 segments/s")])
def test_the_rate_reads_as_segments_per_second(rate, shown):
    assert Estimate(1, 1, rate).rate_text == shown


@pytest.mark.parametrize("sender_type, pooled, named", [
    ("long_code", False, "a long code"), ("toll_free", False, "a toll-free number"),
    ("10dlc", False, "a 10DLC number"), ("short_code", False, "a short code"),
    ("10dlc", True, "a Messaging Service's pool of 10DLC numbers"),
])
def test_it_names_the_sender_type_it_assumed(sender_type, pooled, named):
    assert Estimate(1, 1, 1.0, sender_type, pooled).sender == named


def test_every_sender_type_the_setting_accepts_has_a_name():
    accepted = Settings.model_fields["SMS_SENDER_TYPE"].annotation.__args__
    assert set(accepted) == set(SENDER_TYPES)
    assert Settings().SMS_SENDER_TYPE == "long_code" and Settings().SMS_SENDER_RATE == 1.0
