"""The headers every answer carries, and the client's real address behind trusted reverse proxies."""
from __future__ import annotations

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

# The public site's own pages: the same for everyone, so caches and phones may keep them.
CACHEABLE_BLUEPRINTS = frozenset({"public"})


def init_app(app, settings) -> None:
    """Add the security headers to every answer the app makes."""
    hsts = strict_transport_security(settings)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
        if hsts:
            response.headers.setdefault(*hsts)
        if request.blueprint not in CACHEABLE_BLUEPRINTS and request.endpoint != "static":
            # Staff read the console on phones: no page of it (update, subscribers, audit log) may stay in a
            # browser's cache or history for the next person holding the phone, nor in a shared proxy.
            response.headers["Cache-Control"] = "no-store"
        return response


def strict_transport_security(settings) -> tuple[str, str] | None:
    """The HSTS header in production (with HSTS_MAX_AGE above 0), else None: development runs on plain HTTP."""
    if settings.CRISISCAST_ENV != "production" or not settings.HSTS_MAX_AGE:
        return None
    return "Strict-Transport-Security", f"max-age={settings.HSTS_MAX_AGE}"


def behind_proxies(wsgi_app, settings):
    """`wsgi_app` taking the client's address and scheme from the X-Forwarded-For and -Proto headers set by
    TRUSTED_PROXIES proxies; with none trusted, those headers are ignored (any client could send them)."""
    count = settings.TRUSTED_PROXIES
    return ProxyFix(wsgi_app, x_for=count, x_proto=count) if count else wsgi_app
