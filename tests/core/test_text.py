"""Pasted text: line breaks normalised, XML-invalid characters removed with their positions."""
import pytest
from lxml import etree

from crisiscast.core.text import clean, is_clean, removal_notice, scrub


@pytest.mark.parametrize("pasted", ["line\x0bbreak", "line\x0cbreak", "line\r\nbreak", "line\rbreak",
                                    "line\u2028break"])
def test_word_line_and_page_breaks_become_line_breaks(pasted):
    assert scrub(pasted) == scrub("line\nbreak")
    assert scrub(pasted).text == "line\nbreak"


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x08", "\x0e", "\x1f", "\x7f", "\ufffe", "\uffff", "\ud800"])
def test_xml_invalid_characters_are_removed_and_located(bad):
    result = scrub(f"ER{bad} open{bad}")
    assert result.text == "ER open"
    assert result.removed == (3, 9)
    etree.fromstring(f"<t>{result.text}</t>".encode())  # what lxml would have refused now parses


def test_ordinary_text_passes_unchanged():
    text = "ER open — 🚑 Café\ttab\nnext"
    assert scrub(text).text == text and scrub(text).removed == ()
    assert is_clean(text) and not is_clean("a\x00b")
    assert clean(None) == ""


def test_the_notice_names_the_field_and_positions():
    assert removal_notice("Text", (14,)) == "Text: 1 invisible control character was removed (at 14). Check the preview."
    assert "(at 1, 2, 3, 4, 5 …)" in removal_notice("Headline", tuple(range(1, 9)))
