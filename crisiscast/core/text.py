"""Text as people paste it, made safe to store, send and publish as XML.

Word's manual line break (vertical tab) and page break (form feed) become line breaks. Everything XML 1.0
cannot carry (the other C0 controls including NUL, U+FFFE/U+FFFF, lone surrogates) is removed, and the
positions are reported so the console can say so: these characters are invisible, so asking a PIO at 2 a.m.
to find and delete "U+0001 at position 212" would be worse than removing it and showing the preview.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
XML_INVALID = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Scrubbed:
    """The cleaned text and the 1-based positions (in the text as given) of the characters removed."""

    text: str
    removed: tuple[int, ...] = ()


def scrub(value: str | None) -> Scrubbed:
    """Normalise line breaks and remove what XML cannot carry, remembering where it was."""
    value = LINE_BREAKS.sub("\n", value or "")
    removed = tuple(match.start() + 1 for match in XML_INVALID.finditer(value))
    return Scrubbed(XML_INVALID.sub("", value) if removed else value, removed)


def clean(value: str | None) -> str:
    """`scrub(value).text`: for inputs where nobody needs to be told (inbound SMS, lookups)."""
    return scrub(value).text


def is_clean(value: str) -> bool:
    """True when `value` can go into XML (and PostgreSQL) as it is."""
    return XML_INVALID.search(value) is None


def removal_notice(label: str, removed: tuple[int, ...]) -> str:
    """'Text: 2 invisible control characters were removed (at 14, 80).' for the console to show."""
    where = ", ".join(str(p) for p in removed[:5]) + (" …" if len(removed) > 5 else "")
    noun = "character was" if len(removed) == 1 else "characters were"
    return f"{label}: {len(removed)} invisible control {noun} removed (at {where}). Check the preview."
