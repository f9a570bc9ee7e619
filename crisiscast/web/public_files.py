"""Serve the pre-rendered public files in front of the Flask app: no routing, no session, no database.

Strong ETags (a hash of the bytes), Last-Modified, 304 on If-None-Match / If-Modified-Since, a short
public max-age, and the gzip twin when the client accepts it. A file is read once and kept in memory
until its modification time or size changes. Paths without a file go on to the app.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

TYPES = {".html": "text/html; charset=utf-8", ".rss": "application/rss+xml; charset=utf-8",
         ".atom": "application/atom+xml; charset=utf-8", ".json": "application/feed+json; charset=utf-8",
         ".xml": "application/xml; charset=utf-8"}
ROUTES = [
    (re.compile(r"^/status$"), lambda m: "index.html"),
    (re.compile(r"^/(feed\.(?:rss|atom|json)|have\.xml)$"), lambda m: m.group(1)),
    (re.compile(r"^/u/([0-9a-f]{12})$"), lambda m: f"u/{m.group(1)}.html"),
    (re.compile(r"^/cap/(index\.atom|[0-9a-f]{12}(?:-cancel)?\.xml)$"), lambda m: f"cap/{m.group(1)}"),
    (re.compile(r"^/incidents/([a-z0-9-]{1,140})/(feed\.(?:rss|atom|json))$"),
     lambda m: f"incidents/{m.group(1)}/{m.group(2)}"),
]


class _File:
    __slots__ = ("key", "body", "gzipped", "etag", "modified", "mtime")

    def __init__(self, path: Path, stat: os.stat_result):
        self.key = (stat.st_mtime_ns, stat.st_size)
        self.body = path.read_bytes()
        twin = path.with_name(path.name + ".gz")
        self.gzipped = twin.read_bytes() if twin.exists() else None
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        self.mtime = int(stat.st_mtime)
        self.modified = formatdate(self.mtime, usegmt=True)


class PublicFiles:
    """WSGI middleware: answer public paths from PUBLIC_DIR, everything else from `app`."""

    def __init__(self, app, directory: str, max_age: int = 10, headers: tuple[tuple[str, str], ...] = ()):
        self.app = app
        self.root = Path(directory)
        self.cache_control = f"public, max-age={max_age}"
        self.headers = list(headers)  # the app's own that belong on every answer (HSTS in production)
        self._files: dict[str, _File] = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        name = _route(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        found = self._load(name) if name else None
        if found is None:
            return self.app(environ, start_response)
        headers = [("ETag", found.etag), ("Last-Modified", found.modified), ("Cache-Control", self.cache_control),
                   ("Vary", "Accept-Encoding"), ("X-Content-Type-Options", "nosniff"), *self.headers]
        if _not_modified(environ, found):
            start_response("304 Not Modified", headers)
            return [b""]
        body = found.body
        if found.gzipped is not None and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = found.gzipped
            headers.append(("Content-Encoding", "gzip"))
        headers += [("Content-Type", TYPES.get(Path(name).suffix, "application/octet-stream")),
                    ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [b"" if method == "HEAD" else body]

    def _load(self, name: str) -> _File | None:
        path = self.root / name
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._files.get(name)
        if cached is not None and cached.key == (stat.st_mtime_ns, stat.st_size):
            return cached
        with self._lock:
            try:
                fresh = _File(path, stat)
            except OSError:
                return None
            self._files[name] = fresh
            return fresh


def _route(path: str) -> str | None:
    for pattern, target in ROUTES:
        match = pattern.match(path)
        if match:
            return target(match)
    return None


def _not_modified(environ, found: _File) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        # Weak comparison (RFC 9110 13.1.2): a cache or proxy may hand back our tag as W/"…".
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return found.etag in tags or if_none_match.strip() == "*"
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            return int(parsedate_to_datetime(since).timestamp()) >= found.mtime
        except (TypeError, ValueError):
            return False
    return False
