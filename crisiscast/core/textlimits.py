"""How each channel counts text: SMS segments (GSM-7 / UCS-2), X's weighted length, Bluesky's graphemes,
Mastodon's length."""
from __future__ import annotations

import re
from dataclasses import dataclass

import regex
from twitter_text import parse_tweet
from twitter_text.extract_urls import extract_urls_with_indices

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these takes an escape septet plus itself: two septets.
GSM7_EXTENDED = set("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsCount:
    """The encoding an SMS needs, its length in that encoding's units, and its segments."""

    encoding: str
    units: int
    segments: int
    unicode_chars: tuple[str, ...] = ()

    @property
    def characters(self) -> int:
        return self.units


_GSM7_ONLY = re.compile("[" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENDED))) + "]*")
_GSM7_ESCAPED = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENDED))) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def count_sms(text: str) -> SmsCount:
    """Count the segments of `text` as carriers split it (no segment splits an escape or a surrogate pair)."""
    # Regular expressions for the common cases: the sandbox counts every message it accepts.
    if _GSM7_ONLY.fullmatch(text):
        if not _GSM7_ESCAPED.search(text):
            return SmsCount("GSM-7", len(text), _even_segments(len(text), GSM7_SINGLE, GSM7_PART))
        widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        return SmsCount("GSM-7", sum(widths), _segments(widths, GSM7_SINGLE, GSM7_PART))
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENDED))
    if not _ASTRAL.search(text):
        return SmsCount("UCS-2", len(text), _even_segments(len(text), UCS2_SINGLE, UCS2_PART), non_gsm)
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SmsCount("UCS-2", sum(widths), _segments(widths, UCS2_SINGLE, UCS2_PART), non_gsm)


def _even_segments(units: int, single: int, part: int) -> int:
    """Segments when every character takes one unit: nothing to keep from being split."""
    if units <= single:
        return 1 if units else 0
    return -(-units // part)


def _segments(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return segments


X_MAX_WEIGHT = 280


def x_weight(text: str) -> int:
    """X's weighted length, by twitter-text's own rules: URLs and bare domains (sw.org) count 23, CJK 2, an emoji
    (ZWJ sequences included) 2."""
    return parse_tweet(text).weightedLength


# Bluesky: a post's text is limited to 300 graphemes (what a reader sees as one character: an emoji ZWJ family,
# a flag, a letter with its combining accents) and 3,000 UTF-8 bytes, as app.bsky.feed.post's lexicon says.
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000
_GRAPHEME = regex.compile(r"\X")
# Unicode 15.1 made an Indic conjunct (consonant, virama, consonant: the स्त in नमस्ते) one grapheme (rule GB9c);
# segmenters built on the older rules, as Bluesky's validator has been, count it as two. We count the stricter
# way, so that a post we fit is never one the PDS refuses.
_LINKED_CONSONANT = regex.compile(r"[\u094D\u09CD\u0ACD\u0B4D\u0C4D\u0D4D][\p{Mn}\u200D]*\p{Lo}")


def graphemes(text: str) -> int:
    """Grapheme clusters in `text` (an emoji family, a flag, a letter with its accents: one each), as Bluesky
    counts a post's length; an Indic conjunct counts as the two older segmenters see."""
    return len(_GRAPHEME.findall(text)) + len(_LINKED_CONSONANT.findall(text))


# Mastodon (issue #16). An instance counts a status's grapheme clusters (what a reader sees as one character:
# an emoji family, a flag, a letter with its accents; an Indic conjunct the stricter way, as graphemes() does,
# since an instance's Ruby may segment by the older rules) and counts every http(s) URL as 23, however long. Bare
# domains (sw.org) count as typed: Mastodon only links URLs with a scheme. A remote mention (@user@host) is
# counted here in full although Mastodon counts only @user: over-counting can only shorten, never be refused.
MASTODON_DEFAULT_MAX = 500
MASTODON_URL_LENGTH = 23


def mastodon_length(text: str) -> int:
    """The length a Mastodon instance gives `text`: grapheme clusters, each http(s) URL counting 23."""
    total, position = 0, 0
    for url in extract_urls_with_indices(text, extract_urls_without_protocol=False):
        start, end = url["indices"]
        total += graphemes(text[position:start]) + MASTODON_URL_LENGTH
        position = end
    return total + graphemes(text[position:])
