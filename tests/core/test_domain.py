"""Drafts and their validation; backoff."""
import pytest

from crisiscast.core.domain import Draft, ValidationError, backoff_seconds


def test_draft_from_form_trims_and_keeps_only_known_channels():
    form = {"incident": " Fort Hood ", "er_access": "open", "operating_status": "normal", "headline": "  ER   open  ",
            "body": "line one\r\nline two  ", "channels": ["x", "pager", "sms"], "lists": [" staff ", "", "staff"]}
    d = Draft.from_form(form)
    assert (d.incident, d.headline, d.body, d.channels) == ("Fort Hood", "ER open", "line one\nline two", ("sms", "x"))
    assert d.lists == ("staff",)


def test_draft_from_form_takes_a_single_string_for_a_list_field_and_missing_fields_as_empty():
    d = Draft.from_form({"channels": "feed", "lists": "public"})
    assert (d.channels, d.lists, d.incident, d.corrects) == (("feed",), ("public",), "", "")


def test_validate_names_every_bad_field():
    with pytest.raises(ValidationError) as exc:
        Draft(incident="", er_access="maybe", operating_status="", headline="x" * 121, body="y" * 4001).validate()
    assert set(exc.value.errors) == {"incident", "er_access", "operating_status", "headline", "body", "channels"}


def test_a_complete_draft_is_valid():
    Draft(incident="Fort Hood", er_access="closed", operating_status="lockdown", headline="Lockdown",
          channels=("feed",)).validate()


def test_backoff_grows_is_capped_and_honours_retry_after():
    assert backoff_seconds(1, 2, 300, rand=1.0) == 2
    assert backoff_seconds(4, 2, 300, rand=1.0) == 16
    assert backoff_seconds(20, 2, 300, rand=1.0) == 300
    assert backoff_seconds(1, 2, 300, rand=0.0) == 1
    assert backoff_seconds(1, 2, 300, retry_after=30, rand=1.0) == 30


def test_draft_from_form_removes_invisible_control_characters_and_says_where_per_field():
    form = {"incident": "Fort\x00 Hood", "headline": "ER\x0bopen",
            "body": "Blood donors\x01 needed.\x0cCall\x1f 254-724-2111.", "channels": "feed"}
    d = Draft.from_form(form)
    assert (d.incident, d.headline) == ("Fort Hood", "ER open")
    assert d.body == "Blood donors needed.\nCall 254-724-2111."
    assert dict(d.notices) == {
        "incident": "Incident: 1 invisible control character was removed (at 5). Check the preview.",
        "body": "Text: 2 invisible control characters were removed (at 13, 27). Check the preview."}
    assert Draft.from_form({"headline": "ER open", "body": "line\r\nbreak"}).notices == ()


def test_a_draft_built_elsewhere_with_control_characters_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as exc:
        Draft(incident="Fort Hood", er_access="closed", operating_status="lockdown", headline="Lock\x01down",
              body="ok\x00", channels=("feed",)).validate()
    assert set(exc.value.errors) == {"headline", "body"}
    assert "invisible control character" in exc.value.errors["body"]
