"""Who an update is for: public when any channel reaches the public, else internal."""
import pytest

from crisiscast.core.audience import EXERCISE, INTERNAL, PUBLIC, audience, is_public

FLAGS = {"public": True, "media": True, "staff-on-call": False}


@pytest.mark.parametrize("channels, lists, expected", [
    (("sms",), ("staff-on-call",), INTERNAL),
    (("sms",), ("public",), PUBLIC),
    (("sms",), ("staff-on-call", "media"), PUBLIC),
    (("feed",), (), PUBLIC),
    (("x",), (), PUBLIC),
    (("facebook",), (), PUBLIC),
    (("mastodon",), (), PUBLIC),  # a public status: never an internal or exercise-only channel
    (("sms", "mastodon"), ("staff-on-call",), PUBLIC),
    (("sms", "feed"), ("staff-on-call",), PUBLIC),
    (("sms",), ("no-such-list",), INTERNAL),  # an unknown list never makes an update public
    (("sms",), (), INTERNAL),
    ((), ("public",), INTERNAL),  # lists only count for SMS
])
def test_an_update_is_public_when_any_channel_reaches_the_public(channels, lists, expected):
    assert audience(channels, lists, FLAGS) == expected


def test_a_list_turned_internal_makes_the_next_sms_to_it_internal():
    assert audience(("sms",), ("media",), {**FLAGS, "media": False}) == INTERNAL


def test_an_exercise_is_never_public_whatever_its_channels_and_lists():
    assert audience(("feed", "x", "facebook", "sms"), ("public",), {"public": True}, exercise=True) == EXERCISE
    assert not is_public(EXERCISE)
