"""The HTTP client the Twilio SDK sends through: its own `HttpClient` interface on a urllib3 pool.

The SDK's default client goes through `requests`, whose per-request work (merging session and environment
settings, preparing, hooks) costs as much CPU as the rest of an SMS send together. At fan-out rates that CPU
is the bottleneck, so SMS uses this client: the same wire requests, half the work. Like the requests
transport adapter it rewrites Twilio's URL to the configured base, applies the timeout, holds the shared
throttle exactly while a request is on the wire, and remembers each thread's last rate-limit headers.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from contextlib import nullcontext
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3

from crisiscast.channels import Withdrawn
from twilio.http import HttpClient
from twilio.http.response import Response

from crisiscast.channels.transport import RATE_LIMIT_HEADERS

JSON_TYPES = ("application/json", "application/scim+json")


class TwilioHttp(HttpClient):
    """Twilio's HttpClient on urllib3: base URL rewrite, timeout, the throttle gate, rate-limit headers."""

    def __init__(self, real_base: str, base: str, timeout: float, pool_maxsize: int = 10):
        super().__init__(logger=None, is_async=False, timeout=timeout)
        self.real_base = real_base.rstrip("/")
        self.base = (base or real_base).rstrip("/")
        self.gate = None
        self._local = threading.local()
        self._auth: dict[tuple, dict] = {}
        options = dict(num_pools=4, maxsize=pool_maxsize, block=False, retries=False,
                       timeout=urllib3.Timeout(connect=timeout, read=timeout), ca_certs=certifi.where())
        proxy = _proxy_for(self.base)
        self._manager = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        # Without a proxy every request goes to one host: use its pool directly, not a lookup per request.
        self._direct = None if proxy else self._manager.connection_from_url(self.base)
        self._base_path = urlsplit(self.base).path

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        """Send one request; urllib3's errors propagate (the channel sorts them into in doubt or not)."""
        path = url[len(self.real_base):] if url.startswith(self.real_base) else None
        if params:
            query = ("&" if "?" in url else "?") + urlencode(params, doseq=True)
            url, path = url + query, (None if path is None else path + query)
        headers = dict(headers or {})
        if auth:
            headers.update(self._basic_auth(auth))
        body = None
        if data is not None and headers.get("Content-Type") in JSON_TYPES:
            body = json.dumps(data).encode()
        elif data:
            body = urlencode(data, doseq=True).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        wait = urllib3.Timeout(connect=timeout, read=timeout) if timeout else None
        # Only a POST sends a message: lookups wait for the concurrency cap, not for the sender rate.
        sends = method.upper() == "POST"
        cost = getattr(self._local, "segments", 1) if sends else 0
        with self.gate.slot(message=sends, segments=cost) if self.gate is not None else nullcontext():
            wanted = getattr(self._local, "wanted", None)
            if sends and wanted is not None and not wanted():
                raise Withdrawn("Withdrawn while it waited for its turn: the update was retracted.", code="withdrawn")
            if path is not None and self._direct is not None:
                answer = self._direct.urlopen(method.upper(), self._base_path + path, body=body, headers=headers,
                                              redirect=allow_redirects, retries=False,
                                              **({"timeout": wait} if wait else {}))
            else:
                target = self.base + path if path is not None else url
                answer = self._manager.request(method.upper(), target, body=body, headers=headers,
                                               redirect=allow_redirects, **({"timeout": wait} if wait else {}))
        self._local.headers = {k: answer.headers[k] for k in RATE_LIMIT_HEADERS if k in answer.headers}
        return Response(answer.status, answer.data.decode("utf-8", "replace"), answer.headers)

    def _basic_auth(self, auth: tuple) -> dict:
        if auth not in self._auth:
            self._auth[auth] = urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}")
        return self._auth[auth]

    def sending(self, wanted, segments: int = 1):
        """For this thread's next requests: `wanted` (or None) is asked once a POST's slot is granted, and a POST
        takes `segments` turns of the sender's rate."""
        self._local.wanted = wanted
        self._local.segments = segments

    def last_rate_limit_headers(self) -> dict:
        """The rate-limit headers of the last response this thread received."""
        return getattr(self._local, "headers", {})


def _proxy_for(base: str) -> str | None:
    """The proxy the environment names for `base` (HTTPS_PROXY and NO_PROXY, as requests honours them)."""
    parts = urlsplit(base)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None
