"""The Mastodon status: the whole update with its link when it fits the instance's limit, else cut at a word."""
from dataclasses import replace

import pytest

from crisiscast.core.domain import Draft, ValidationError
from crisiscast.core.rendering import RenderContext, render_all, render_mastodon
from crisiscast.core.textlimits import mastodon_length

CTX = RenderContext(org_name="Scott & White", link="https://status.example.org/u/abc123def456")
DRAFT = Draft(incident="Storm", er_access="open", operating_status="normal", headline="ER open",
              body="Use the north entrance.", channels=("mastodon",))


def test_a_short_update_goes_out_whole_with_its_link():
    r = render_mastodon(DRAFT, CTX)
    assert r.text == "ER open\nER: Open. Hospital: Normal operations.\nUse the north entrance.\n" + CTX.link
    assert not r.shortened and r.link == CTX.link
    assert r.stats == {"characters": mastodon_length(r.text), "max_characters": 500}


@pytest.mark.parametrize("limit", [100, 500, 5000])
def test_a_long_body_is_cut_at_a_word_within_the_instances_limit(limit):
    body = "Avoid the main campus; use the north entrance on 5th Street. " * 200
    r = render_mastodon(replace(DRAFT, body=body), replace(CTX, mastodon_max=limit))
    assert r.shortened and limit - 30 < mastodon_length(r.text) <= limit
    assert r.text.endswith("…\n" + CTX.link)


def test_emoji_and_cjk_count_by_graphemes_not_code_points():
    body = "👨\u200d👩\u200d👧\u200d👦" * 400  # 2800 code points, 400 characters to a reader
    r = render_mastodon(replace(DRAFT, body=body), CTX)
    assert not r.shortened and mastodon_length(r.text) <= 500 < len(r.text)


def test_a_long_link_costs_23():
    link = "https://status.example.org/u/" + "a" * 300
    r = render_mastodon(DRAFT, replace(CTX, link=link))
    assert not r.shortened and r.stats["characters"] == mastodon_length(r.text) < 100


def test_an_internal_update_has_no_link():
    r = render_mastodon(DRAFT, replace(CTX, link=""))
    assert "http" not in r.text and r.link == ""


def test_a_headline_that_cannot_fit_is_an_error_named_for_mastodon():
    with pytest.raises(ValidationError) as exc:
        render_all(replace(DRAFT, headline="x" * 120), replace(CTX, mastodon_max=50))
    assert "Mastodon" in exc.value.errors["mastodon"] and "50" in exc.value.errors["mastodon"]
