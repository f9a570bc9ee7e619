"""Where a link may send a signed-in user: only to a path on this site."""
from __future__ import annotations

from urllib.parse import urlsplit


def same_site_path(target: str | None) -> str | None:
    """`target` when a browser would read it as a path on this site, else None.

    Browsers drop tabs and line breaks inside a URL, trim control characters and spaces around it, and read
    a backslash as a slash, so `/\\t/evil.example`, ` //evil.example` and `/\\\\evil.example` all leave the
    site. Rather than imitate that normalisation, anything it would change is refused: no control or
    non-printing character, no backslash, and what is left must be a path starting with one slash.
    """
    if not target or len(target) > 2000 or "\\" in target or not target.isprintable() or target != target.strip():
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
