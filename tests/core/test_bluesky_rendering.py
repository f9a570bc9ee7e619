"""Bluesky's rendering: 300 graphemes (not code points, not X's weights, not SMS units), link facets in UTF-8
bytes, a link card, no link for an internal update, and the live counter."""
from datetime import datetime, timezone

import pytest

from crisiscast.core.audience import INTERNAL, PUBLIC, audience
from crisiscast.core.counters import live_counts
from crisiscast.core.domain import CHANNEL_LABELS, CHANNELS, Draft, ValidationError, channel_action
from crisiscast.core.facets import byte_slice, link_facets
from crisiscast.core.rendering import RenderContext, render_all, render_bluesky
from crisiscast.core.textlimits import count_sms, graphemes, x_weight

LINK = "https://status.example.org/u/abc123abc123"
CTX = RenderContext(org_name="Scott & White", link=LINK)

# text, graphemes (Bluesky), X's weighted length, SMS encoding and units, code points, UTF-8 bytes
TRICKY = [
    ("a", 1, 1, "GSM-7", 1, 1, 1),
    ("é", 1, 1, "GSM-7", 1, 1, 2),  # precomposed: in GSM-7's table
    ("e\u0301", 1, 1, "UCS-2", 2, 2, 3),  # e + combining acute: one letter to a reader, two code points
    ("👍", 1, 2, "UCS-2", 2, 1, 4),
    ("👍🏽", 1, 2, "UCS-2", 4, 2, 8),  # with a skin tone
    ("👨‍👩‍👧‍👦", 1, 2, "UCS-2", 11, 7, 25),  # a family: four people joined by ZWJ
    ("🇺🇸", 1, 2, "UCS-2", 4, 2, 8),  # a flag: two regional indicators
    ("🏳️‍🌈", 1, 2, "UCS-2", 6, 4, 14),
    ("中", 1, 2, "UCS-2", 1, 1, 3),
    ("€", 1, 2, "GSM-7", 2, 1, 3),  # GSM-7's extension table: an escape and itself
    ("नमस्ते", 4, 6, "UCS-2", 6, 6, 18),  # counted as older segmenters do (see textlimits)
    ("sw.org", 6, 23, "GSM-7", 6, 6, 6),  # X counts a bare domain as a link; Bluesky does not
]


@pytest.mark.parametrize("text, bluesky, x, encoding, units, points, size", TRICKY)
def test_tricky_texts_are_counted_as_each_channel_counts_them(text, bluesky, x, encoding, units, points, size):
    sms = count_sms(text)
    assert (graphemes(text), x_weight(text), sms.encoding, sms.units, len(text), len(text.encode())) == \
        (bluesky, x, encoding, units, points, size)


def draft(body="", headline="Shelter in place", **changes) -> Draft:
    return Draft(**{"incident": "Storm", "er_access": "open", "operating_status": "normal", "headline": headline,
                    "body": body, "channels": ("bluesky",), **changes})


def test_a_short_update_is_whole_and_ends_with_its_link():
    promised = datetime(2026, 12, 7, 18, 0, tzinfo=timezone.utc)
    r = render_bluesky(draft("Stay indoors.", next_update_at=promised), CTX)
    assert r.text == (f"Shelter in place\nER: Open. Hospital: Normal operations.\nStay indoors.\n"
                      f"Next update by 18:00 UTC.\n{LINK}")
    assert not r.shortened and r.link == LINK and r.title == "Shelter in place"
    assert r.description == "ER: Open. Hospital: Normal operations. Next update by 18:00 UTC."
    assert r.stats == {"graphemes": graphemes(r.text), "max_graphemes": 300, "bytes": len(r.text.encode())}


@pytest.mark.parametrize("unit", [row[0] for row in TRICKY])
def test_a_long_text_is_cut_at_a_word_within_the_limits_and_keeps_its_link(unit):
    r = render_bluesky(draft(" ".join([unit * 3] * 400)), CTX)
    assert r.shortened and r.text.endswith(f"…\n{LINK}")
    assert graphemes(r.text) <= 300 and len(r.text.encode()) <= 3000
    assert graphemes(r.text) > 300 - 3 * 4 - 2 or len(r.text.encode()) > 3000 - 3 * 25 - 4  # as long as fits


def test_exactly_300_graphemes_is_whole_and_301_is_shortened():
    base = render_bluesky(draft("x"), CTX)
    room = 300 - graphemes(base.text) + 1
    whole = render_bluesky(draft("🇺🇸" * room), CTX)  # 8 bytes each: the grapheme limit binds, not the bytes
    assert not whole.shortened and whole.stats["graphemes"] == 300 and len(whole.text) > 300
    assert render_bluesky(draft("🇺🇸" * (room + 1)), CTX).shortened


def test_an_internal_update_has_no_link_no_card_and_no_facet():
    r = render_bluesky(draft("Staff huddle at 14:00."), RenderContext(org_name="S&W", link=""))
    assert LINK not in r.text and (r.link, r.title, r.description) == ("", "", "")
    assert link_facets(r.text) == []


def test_a_headline_too_long_with_the_link_is_refused_with_the_reason():
    with pytest.raises(ValidationError) as refused:
        render_bluesky(draft(headline="👨‍👩‍👧 " * 150), CTX)
    assert "Bluesky" in refused.value.errors["bluesky"]


@pytest.mark.parametrize("before", ["", "Café ", "e\u0301 ", "👨‍👩‍👧‍👦🇺🇸 ", "中文 ", "नमस्ते "])
def test_facets_are_utf8_byte_ranges(before):
    text = f"{before}See {LINK} and https://redcross.org/give."
    first, second = link_facets(text)
    assert (byte_slice(text, first), first.uri) == (LINK, LINK)
    assert first.byte_start == len(f"{before}See ".encode())
    assert (byte_slice(text, second), second.uri) == ("https://redcross.org/give",) * 2  # not the full stop


def test_facets_keep_a_closing_parenthesis_that_belongs_to_the_url():
    [facet] = link_facets("(see https://en.wikipedia.org/wiki/Triage_(medical))")
    assert facet.uri == "https://en.wikipedia.org/wiki/Triage_(medical)"
    assert link_facets("nothing here, nor in http:// alone") == []


def test_bluesky_is_a_public_channel_with_a_delete_action():
    assert "bluesky" in CHANNELS and CHANNEL_LABELS["bluesky"] == "Bluesky"
    assert audience(["bluesky"], [], {}) == PUBLIC and audience(["sms"], ["staff"], {"staff": False}) == INTERNAL
    assert channel_action("bluesky.delete") == ("bluesky", "delete") and "bluesky.delete" in CHANNEL_LABELS
    assert set(render_all(draft("Body", channels=("bluesky", "x")), CTX)) == {"bluesky", "x"}


def test_the_live_counter_counts_graphemes_with_the_link():
    counts = live_counts(draft("👨‍👩‍👧‍👦" * 10), CTX)
    expected = graphemes(f"Shelter in place\nER: Open. Hospital: Normal operations.\n{'👨‍👩‍👧‍👦' * 10}\n{LINK}")
    assert (counts["bluesky_graphemes"], counts["bluesky_max"]) == (expected, 300)
    assert counts["x_weight"] != counts["bluesky_graphemes"]
