"""Placeholders: found in order, filled only with something, and any left over named."""
from crisiscast.core import placeholders


def test_names_are_found_once_in_the_order_they_appear():
    assert placeholders.names("At {place}", "call {phone} at {place}", "") == ["place", "phone"]
    assert placeholders.names("JSON {\"a\": 1} and {Capital} are not placeholders") == []


def test_fill_replaces_only_what_has_a_value():
    text = "Donate at {place}; call {phone}."
    assert placeholders.fill(text, {"place": " Red Cross center ", "phone": "  "}) == \
        "Donate at Red Cross center; call {phone}."


def test_unfilled_names_each_field_that_still_holds_one():
    form = placeholders.fill_form({"headline": "Blood donors needed at {place}", "body": "Call {phone}.",
                                   "next_update": "", "incident": "{not_filled_here}"}, {"place": "Main campus"})
    assert form["headline"] == "Blood donors needed at Main campus"
    assert placeholders.unfilled(form) == {"body": "Fill in {phone} before the preview."}
    assert placeholders.values_from({"ph_place": "A", "place": "B", "ph_x": ["list"]}) == {"place": "A"}
