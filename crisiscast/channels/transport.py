"""One requests transport adapter for the SDKs built on requests (tweepy, facebook-sdk), and the error kinds.

Mounted on the SDK's own `requests.Session`, it rewrites the provider's URL to the configured base
(the sandbox, a proxy, a regional edge) after the SDK has signed the request, and supplies a timeout
where the SDK sets none (tweepy never does). Twilio goes through crisiscast.channels.twilio_http, which
does the same on urllib3; both sort their failures with transport_error().
"""
from __future__ import annotations

import threading
import time
import urllib.request

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

RATE_LIMIT_HEADERS = ("retry-after", "x-rate-limit-reset", "x-rate-limit-remaining", "x-ratelimit-reset")


class ProviderAdapter(HTTPAdapter):
    """Send requests for `real_base` to `base`, with a default timeout; remember rate-limit headers per thread."""

    def __init__(self, real_base: str, base: str, timeout: float, pool_maxsize: int = 10):
        super().__init__(pool_connections=2, pool_maxsize=pool_maxsize)
        self.real_base = real_base.rstrip("/")
        self.base = (base or real_base).rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if self.base != self.real_base and request.url.startswith(self.real_base):
            request.url = self.base + request.url[len(self.real_base):]
        response = super().send(request, stream=stream, timeout=timeout or self.timeout,
                                verify=verify, cert=cert, proxies=proxies)
        self._local.status = response.status_code
        self._local.headers = {k: response.headers[k] for k in RATE_LIMIT_HEADERS if k in response.headers}
        return response

    def last_status(self) -> int | None:
        """The HTTP status of the last response this thread received (some SDKs drop it from their errors)."""
        return getattr(self._local, "status", None)

    def last_rate_limit_headers(self) -> dict:
        """The rate-limit headers of the last response this thread received."""
        return getattr(self._local, "headers", {})


def mount(session: requests.Session, real_base: str, base: str, timeout: float,
          pool_maxsize: int = 10) -> ProviderAdapter:
    """Mount a ProviderAdapter for `real_base` on `session` and return it.

    Proxy settings are read from the environment once, here: requests would otherwise scan the whole
    environment on every request, a quarter of the CPU an SMS costs at fan-out rates.
    """
    session.trust_env = False
    session.proxies.update({k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")})
    adapter = ProviderAdapter(real_base, base, timeout, pool_maxsize)
    session.mount(adapter.real_base, adapter)
    return adapter


def is_in_doubt(exc: Exception) -> bool:
    """True when the request may have reached the provider: any failure after the connection was made.

    Takes requests' errors and, for clients on urllib3 directly, urllib3's (a refused or timed-out
    connection is a ConnectTimeoutError there).
    """
    if isinstance(exc, (requests.ConnectTimeout, ConnectTimeoutError)):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return not isinstance(reason, NewConnectionError)
    return True


def retry_after_seconds(headers: dict) -> float | None:
    """Seconds to wait from Retry-After or x-rate-limit-reset (an epoch time), if the provider said."""
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            return None
    if "x-rate-limit-reset" in headers:
        try:
            return max(0.0, float(headers["x-rate-limit-reset"]) - time.time())
        except ValueError:
            return None
    return None


def lookup_error(exc: Exception):
    """A lookup that got no answer: retryable (a lookup never sends anything)."""
    from crisiscast.channels import RetryableError

    return RetryableError(f"{type(exc).__name__}: lookup failed", code=type(exc).__name__)


def transport_error(exc: Exception):
    """Our error kind for a failure below HTTP: in doubt once the request may have left, else retryable."""
    from crisiscast.channels import InDoubtError, RetryableError

    kind = InDoubtError if is_in_doubt(exc) else RetryableError
    return kind(f"{type(exc).__name__}: no answer from the provider", code=type(exc).__name__)
