"""Segment counting by the GSM-7 / UCS-2 rules, and X's weighted length."""
import pytest

from crisiscast.core.textlimits import count_sms, x_weight


@pytest.mark.parametrize("length, segments", [(0, 0), (1, 1), (153, 1), (160, 1), (161, 2), (306, 2), (307, 3),
                                              (459, 3), (460, 4)])
def test_gsm7_boundaries(length, segments):
    count = count_sms("a" * length)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize("length, segments", [(67, 1), (70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length, segments):
    text = "’" + "a" * (length - 1)
    count = count_sms(text)
    assert (count.encoding, count.units, count.segments) == ("UCS-2", length, segments)
    assert count.unicode_chars == ("’",)


def test_extension_characters_take_two_septets_and_are_never_split():
    assert count_sms("€" * 80).units == 160
    assert count_sms("€" * 80).segments == 1
    # 152 plain + one escape pair cannot share the first part of 153: the pair moves to the second part.
    assert count_sms("a" * 152 + "{" + "a" * 10).segments == 2
    assert count_sms("a" * 152 + "{" + "a" * 153).segments == 3


def test_an_emoji_forces_unicode_and_counts_as_a_surrogate_pair():
    count = count_sms("Shelter in place 🚨")
    assert count.encoding == "UCS-2"
    assert count.units == len("Shelter in place ") + 2
    assert count.unicode_chars == ("🚨",)


def test_x_weight_counts_urls_as_23_and_cjk_as_two():
    assert x_weight("hello") == 5
    assert x_weight("see https://example.org/a/very/long/path/that/goes/on/and/on") == 4 + 23
    assert x_weight("界界") == 4
    assert x_weight("🚨") == 2


# Texts where counting goes wrong: bare domains, URLs with paths, emoji sequences, CJK, accents, punctuation.
TRICKY_X_TEXTS = {
    "Donate at redcross.org today": 10 + 23 + 6,
    "Info: sw.org/status and bswhealth.com": 6 + 23 + 5 + 23,
    "see https://example.org/a/very/long/path?x=1#top now": 4 + 23 + 4,
    "http://sw.org": 23,
    "email media@sw.org for credentials": 34,  # an address is not a link
    "Shelter 🚨 now": 8 + 2 + 4,
    "Family 👨‍👩‍👧‍👦 center": 7 + 2 + 7,
    "Flag 🇺🇸 and keycap 1️⃣": 5 + 2 + 12 + 2,
    "Skin tone 👍🏽": 10 + 2,
    "避難所が開設されました": 22,
    "Café ü Ñ — “quotes” …": 21 + 1,  # the ellipsis is outside the light ranges
    "Hospital U.S. policy e.g. note": 30,
    "version 1.2.3 and v2.0": 22,
}


@pytest.mark.parametrize("text, expected", TRICKY_X_TEXTS.items())
def test_x_weight_agrees_with_the_sandboxs_independent_count(text, expected):
    from crisiscast.sandbox import x_counting

    assert (x_weight(text), x_counting.weight(text)) == (expected, expected)
