"""Rendering one draft for each channel within its limits."""
from datetime import datetime, timedelta, timezone

import pytest

from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.rendering import (
    RenderContext,
    fingerprint,
    render_all,
    render_retraction_sms,
    render_sms,
    render_x,
)
from crisiscast.core.textlimits import count_sms, x_weight

CTX = RenderContext(org_name="Scott & White", link="https://status.example.org/u/abc123def456", sms_max_segments=2)


def draft(**fields) -> Draft:
    base = dict(incident="Fort Hood", er_access="diversion", operating_status="limited",
                headline="ER on diversion", body="Ambulances go to Metroplex.", channels=("sms", "x", "facebook", "feed"))
    return Draft(**{**base, **fields})


def test_short_update_goes_out_whole_without_a_link():
    sms = render_sms(draft(), CTX)
    assert sms.text == ("Scott & White: ER on diversion\nER: On ambulance diversion. "
                        "Hospital: Limited: elective procedures postponed.\nAmbulances go to Metroplex.")
    assert not sms.shortened and sms.link == ""
    assert sms.stats["segments"] == 1


def test_long_sms_is_cut_at_a_word_within_the_segment_budget_and_links_the_full_update():
    sms = render_sms(draft(body="Donate blood at the Red Cross center today. " * 20), CTX)
    assert sms.shortened
    assert sms.text.endswith("...\nMore: https://status.example.org/u/abc123def456")
    assert count_sms(sms.text).segments == 2
    assert "center today. Donate" in sms.text or sms.text.count("Donate") >= 1


def test_long_x_post_fits_280_with_the_link():
    x = render_x(draft(body="Families should call the family line at 254-724-2111 for news. " * 10), CTX)
    assert x.shortened and x.text.endswith("…\nhttps://status.example.org/u/abc123def456")
    assert 250 < x_weight(x.text) <= 280


def test_typographic_quotes_and_dashes_do_not_force_unicode():
    sms = render_sms(draft(body="Don’t come to the ER — “minor” injuries go to urgent care…"), CTX)
    assert sms.stats["encoding"] == "GSM-7"
    assert "Don't come to the ER - \"minor\" injuries go to urgent care..." in sms.text


def test_unicode_body_is_reported_with_the_characters_that_forced_it():
    sms = render_sms(draft(body="Shelter in place 🚨"), CTX)
    assert sms.stats["encoding"] == "UCS-2"
    assert sms.stats["unicode_chars"] == "🚨"


def test_every_channel_that_cannot_fit_is_named():
    with pytest.raises(ValidationError) as exc:
        render_all(draft(headline="界" * 120), RenderContext("Scott & White", CTX.link, sms_max_segments=1))
    assert set(exc.value.errors) == {"sms", "x"}


def test_feed_and_facebook_carry_everything_with_the_link():
    renderings = render_all(draft(), CTX)
    assert renderings["feed"].title == "ER on diversion"
    assert renderings["facebook"].link == CTX.link
    assert "Ambulances go to Metroplex." in renderings["facebook"].text


def test_the_fingerprint_changes_with_the_text_or_the_lists_and_not_with_their_order():
    renderings = render_all(draft(), CTX)
    same = render_all(draft(), CTX)
    assert fingerprint(renderings, ["public", "media"]) == fingerprint(same, ["media", "public"])
    assert fingerprint(renderings, ["public"]) != fingerprint(renderings, ["public", "media"])
    assert fingerprint(renderings, ["public"]) != fingerprint(render_all(draft(body="Changed."), CTX), ["public"])
    # A list's public flag changed since the preview: the same text, but it would now go public (or not).
    assert fingerprint(renderings, ["public"], "public") != fingerprint(renderings, ["public"], "internal")


def test_an_sms_without_a_link_is_cut_with_no_more_line():
    """An internal update has no public page: its shortened SMS carries no link at all."""
    sms = render_sms(draft(body="Code silver in ward 3; stay clear of the east stairs. " * 20),
                     RenderContext(org_name="Scott & White", link="", sms_max_segments=2))
    assert sms.shortened and sms.link == "" and "More:" not in sms.text and "http" not in sms.text
    assert sms.text.endswith("...") and count_sms(sms.text).segments == 2


PROMISED = dict(next_update_at=datetime(2026, 12, 8, 8, 30, tzinfo=timezone.utc))
CHICAGO_CTX = RenderContext("Scott & White", CTX.link, sms_max_segments=3, zone="America/Chicago",
                            now=PROMISED["next_update_at"] - timedelta(minutes=40))


def test_every_channel_carries_the_promise_in_the_hospitals_zone():
    everywhere = ("sms", "x", "facebook", "feed", "bluesky", "mastodon")
    renderings = render_all(draft(**PROMISED), CHICAGO_CTX, channels=everywhere)
    for name in everywhere:
        assert "Next update by 02:30 CST." in renderings[name].text, name
    assert renderings["sms"].text.endswith("Ambulances go to Metroplex.\nNext update by 02:30 CST.")
    no_further = render_all(draft(no_further_updates=True), CHICAGO_CTX)
    assert all(r.text.endswith("No further updates planned.") for r in no_further.values())


@pytest.mark.parametrize("segments", [2, 3, 10])
def test_a_long_headline_and_body_keep_the_whole_promise_within_the_sms_segments_and_x_weight(segments):
    long = draft(headline="H" * 120, body="Families should call the family line at 254-724-2111 for news. " * 60,
                 **PROMISED)
    ctx = RenderContext("Scott & White", CTX.link, sms_max_segments=segments, zone="America/Chicago",
                        now=CHICAGO_CTX.now)
    sms, x = render_sms(long, ctx), render_x(long, ctx)
    assert sms.shortened and count_sms(sms.text).segments <= segments
    assert sms.text.endswith("...\nNext update by 02:30 CST.\nMore: " + CTX.link)
    assert x.shortened and x_weight(x.text) <= 280
    assert x.text.endswith("…\nNext update by 02:30 CST.\n" + CTX.link)


def test_at_one_segment_a_headline_that_leaves_no_room_for_the_promise_is_named_never_cut():
    one = RenderContext("Scott & White", CTX.link, sms_max_segments=1, zone="America/Chicago")
    assert render_sms(draft(headline="H" * 60, body=""), one).stats["segments"] == 1
    with pytest.raises(ValidationError) as exc:
        render_sms(draft(headline="H" * 60, body="", **PROMISED), one)
    assert "shorten the headline" in exc.value.errors["sms"]
DRILL_CTX = RenderContext(org_name="Scott & White", link="", sms_max_segments=3, exercise=True)


def test_every_rendering_of_an_exercise_starts_with_the_marker():
    rendered = render_all(draft(), DRILL_CTX)
    assert rendered["sms"].text.startswith("EXERCISE - Scott & White: ER on diversion")  # GSM-7: the dash is plain
    assert rendered["sms"].stats["encoding"] == "GSM-7"
    assert rendered["x"].text.startswith("EXERCISE — ER on diversion")
    assert rendered["facebook"].text.startswith("EXERCISE — ER on diversion")
    assert rendered["feed"].title == "EXERCISE — ER on diversion"
    assert render_all(draft(channels=("bluesky",)), DRILL_CTX)["bluesky"].text.startswith("EXERCISE — ER on")
    assert all(not r.text.startswith("EXERCISE") for r in render_all(draft(), CTX).values())
    notice = render_retraction_sms("Scott & White", "ER on diversion", "Drill over", 1, exercise=True)
    assert notice.text.startswith("EXERCISE - Scott & White: please disregard")


@pytest.mark.parametrize("segments", [1, 3, 10])
def test_an_exercise_sms_keeps_the_marker_within_the_segment_budget_when_shortened(segments):
    long = draft(body="Report to the labour pool in the east atrium. " * 200)
    sms = render_sms(long, RenderContext(org_name="Scott & White", link="", sms_max_segments=segments, exercise=True))
    assert sms.text.startswith("EXERCISE - ") and sms.shortened
    assert count_sms(sms.text).segments == segments


def test_an_exercise_x_post_counts_the_marker_in_its_280():
    # A post that fits X exactly without the marker must be cut with it, and stays within 280 weighted.
    fill = "x" * (280 - x_weight("ER on diversion\nER: On ambulance diversion. Hospital: Limited: elective "
                                 "procedures postponed.\n"))
    post = render_x(draft(body=fill), CTX)
    assert x_weight(post.text) == 280 and not post.shortened
    marked = render_x(draft(body=fill), RenderContext(org_name="Scott & White", link="https://h.example/u/1",
                                                      exercise=True))
    assert marked.shortened and marked.text.startswith("EXERCISE — ") and x_weight(marked.text) <= 280


def test_an_exercise_headline_that_fits_one_segment_only_without_the_marker_is_refused():
    headline = draft(headline="h" * 100, body="", er_access="open", operating_status="normal")
    one = dict(org_name="Scott & White", link="", sms_max_segments=1)
    assert render_sms(headline, RenderContext(**one)).stats["segments"] == 1
    with pytest.raises(ValidationError) as refused:
        render_sms(headline, RenderContext(**one, exercise=True))
    assert "shorten the headline" in refused.value.errors["sms"]
