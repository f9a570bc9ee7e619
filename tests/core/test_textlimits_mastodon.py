"""Mastodon's status length on a table of tricky texts, beside X's weight and Bluesky's graphemes.

Mastodon counts grapheme clusters and every http(s) link as 23; X weighs CJK and emoji 2 and any domain 23;
Bluesky counts graphemes with links as typed. The sandbox counts Mastodon's way on its own (a separate
implementation): the two must agree on every row.
"""
import pytest
import regex

from crisiscast.core.textlimits import mastodon_length, x_weight
from crisiscast.sandbox.mastodon import length as sandbox_length

LONG_URL = "https://www.bswhealth.com/" + "a" * 200
# text, Mastodon, X, graphemes (Bluesky), code points
TABLE = [
    ("Shelter in place", 16, 16, 16, 16),
    ("👨\u200d👩\u200d👧\u200d👦", 1, 2, 1, 7),  # a ZWJ family: seven code points, one character
    ("🇺🇸", 1, 2, 1, 2),  # a flag: two regional indicators
    ("👍🏽", 1, 2, 1, 2),  # a skin tone modifier
    ("1️⃣", 1, 2, 1, 3),  # a keycap
    ("❤️", 1, 2, 1, 2),  # an emoji with its presentation selector
    ("👩🏽\u200d⚕️ nurse", 7, 8, 7, 11),
    ("e\u0301", 1, 1, 1, 2),  # é decomposed: X normalises to one code point, Mastodon sees one grapheme
    ("k\u0301\u0337\u0322", 1, 4, 1, 4),  # stacked combining marks
    ("急診室在三樓", 6, 12, 6, 6),  # CJK: X weighs each 2
    ("응급실", 3, 6, 3, 3),  # Hangul syllables
    ("\u1100\u1161\u11a8", 1, 2, 1, 3),  # Hangul jamo, decomposed: one syllable
    (LONG_URL, 23, 23, 226, 226),  # any link counts 23 on Mastodon and X, as typed on Bluesky
    ("sw.org", 6, 23, 6, 6),  # a bare domain is a link to X only
    ("Visit https://sw.org.", 30, 30, 21, 21),  # the full stop ends the sentence, not the link
    ("ER (https://sw.org/er)", 28, 28, 22, 22),
    ("a https://x.org/1 b https://y.org/2", 51, 51, 35, 35),
    ("https://sw.org/a?b=c&d=e#f", 23, 23, 26, 26),
    ("http://127.0.0.1:5000/u/abc", 27, 27, 27, 27),  # an IP address is no link to either extractor
    ("mail er@sw.org", 14, 14, 14, 14),
]


@pytest.mark.parametrize("text, mastodon, x, graphemes, code_points", TABLE)
def test_the_table_of_tricky_texts(text, mastodon, x, graphemes, code_points):
    assert (mastodon_length(text), x_weight(text), len(regex.findall(r"\X", text)), len(text)) == (
        mastodon, x, graphemes, code_points)


@pytest.mark.parametrize("text", [row[0] for row in TABLE])
def test_the_sandbox_counts_as_the_product_does(text):
    assert sandbox_length(text) == mastodon_length(text)


def test_links_count_23_however_many_and_however_long():
    text = " ".join([LONG_URL] * 10)
    assert mastodon_length(text) == 10 * 23 + 9 and len(text) > 2000


def test_empty_and_whitespace():
    assert (mastodon_length(""), mastodon_length("\n\n")) == (0, 2)
