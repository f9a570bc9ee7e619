"""Bluesky rich text: where each link sits in a post, in UTF-8 bytes, as app.bsky.richtext.facet#link needs it.

Bluesky shows a URL in a post's text as plain text unless a link facet names its byte range; offsets are
UTF-8 bytes (not characters, not UTF-16 units), so an emoji or an accent before the link moves it by 2–4 bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_URL = re.compile(r"https?://[^\s<>\"]+")
# Punctuation that ends a sentence rather than the URL ("see https://x.org/a." links https://x.org/a).
_TRAILING = ".,;:!?'\")]}…"


@dataclass(frozen=True)
class LinkFacet:
    """One link: its half-open UTF-8 byte range in the text, and the URI it opens."""

    byte_start: int
    byte_end: int
    uri: str


def link_facets(text: str) -> list[LinkFacet]:
    """A facet for every http(s) URL in `text`, in order, without trailing sentence punctuation."""
    facets = []
    for match in _URL.finditer(text):
        uri = match.group().rstrip(_TRAILING)
        if uri.count("(") > uri.count(")") and match.group()[len(uri):].startswith(")"):
            uri += ")"  # a Wikipedia-style URL keeps its closing parenthesis
        if uri.endswith("://"):
            continue
        start = len(text[:match.start()].encode())
        facets.append(LinkFacet(start, start + len(uri.encode()), uri))
    return facets


def byte_slice(text: str, facet: LinkFacet) -> str:
    """The text a facet covers (what a reader sees underlined)."""
    return text.encode()[facet.byte_start:facet.byte_end].decode()
