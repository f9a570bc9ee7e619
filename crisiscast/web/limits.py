"""Sign-in throttling with Flask-Limiter on the app's Redis, the friendly 429 page, and refused requests counted
for the audit log's summaries.

The limits count failed sign-ins only (a 302 is a success), per username across addresses and per address across
usernames, and they are checked before the password is hashed: a flood is answered 429 without burning scrypt.
Each app has a Limiter of its own (its Redis, its key prefix); `throttled` marks a view and init_app wraps it.

If Redis is unreachable the limits fall back to each process's memory (Flask-Limiter logs "Rate limit storage
unreachable"), and switch back when Redis answers again: sign-in keeps working in an outage, still throttled.
"""
from __future__ import annotations

import logging
import math
import time

from flask import current_app, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from crisiscast.services.refusals import Refusal
from crisiscast.web.helpers import runtime

log = logging.getLogger(__name__)

EXTENSION = "crisiscast.limiter"
# What Retry-After says when Redis cannot tell when the window ends.
DEFAULT_RETRY_SECONDS = 60


def throttled(view):
    """Mark a sign-in view: init_app puts the SIGN_IN_LIMIT_* limits in front of it (POST only)."""
    view.sign_in_throttled = True
    return view


def init_app(app, settings) -> None:
    """Give `app` its Limiter on `settings`' Redis and wrap every `throttled` view; call after the blueprints."""
    app.config.update(RATELIMIT_STORAGE_URI=settings.REDIS_URL or "memory://",
                      RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 2, "socket_timeout": 2},
                      RATELIMIT_KEY_PREFIX=f"crisiscast:{settings.QUEUE_NAME}:limits",
                      RATELIMIT_STRATEGY="moving-window", RATELIMIT_FAIL_ON_FIRST_BREACH=False,
                      RATELIMIT_SWALLOW_ERRORS=True, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True)
    limiter = Limiter(get_remote_address)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    for endpoint, view in list(app.view_functions.items()):
        if getattr(view, "sign_in_throttled", False):
            per_username = limiter.limit(settings.SIGN_IN_LIMIT_PER_USERNAME, key_func=_username_key,
                                         methods=["POST"], deduct_when=_failed)
            per_ip = limiter.limit(settings.SIGN_IN_LIMIT_PER_IP, key_func=_ip_key, methods=["POST"],
                                   deduct_when=_failed)
            app.view_functions[endpoint] = per_ip(per_username(view))
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def too_many_requests(_exc):
    """429 with Retry-After and a page that says how long to wait; a throttled sign-in is counted as refused."""
    seconds = retry_after()
    if getattr(current_app.view_functions.get(request.endpoint), "sign_in_throttled", False):
        record_refusal(Refusal("sign_in", request.remote_addr or "", username(), tag="throttled"))
    return render_template("errors/too_many_requests.html", seconds=seconds), 429, {"Retry-After": str(seconds)}


def retry_after() -> int:
    """Whole seconds until every limit this request broke lets a request through again."""
    limiter = current_app.extensions[EXTENSION]
    try:
        resets = [limit.window.reset_time for limit in limiter.current_limits if limit.breached]
    except Exception as exc:  # noqa: BLE001 - the storage went away after refusing: say a safe default
        log.warning("could not read when the sign-in limit resets: %s", exc)
        resets = []
    if not resets:
        return DEFAULT_RETRY_SECONDS
    return max(1, math.ceil(max(resets) - time.time()))


def record_refusal(refusal: Refusal) -> None:
    """Log and count a refused request for the audit log's per-minute summary; never fails the request."""
    try:
        refusals = runtime().refusals()
    except Exception as exc:  # noqa: BLE001 - no Redis configured or reachable: the log line is what remains
        log.warning("refused %s from %s: %r (not counted: %s)", refusal.kind, refusal.source, refusal.detail, exc)
        return
    refusals.record(refusal, runtime().sessions)


def username() -> str:
    """The username a sign-in form names, as accounts compare it (trimmed, lower case, at most 80)."""
    return request.form.get("username", "").strip().lower()[:80]


def _username_key() -> str:
    return f"username:{username()}"


def _ip_key() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


def _failed(response) -> bool:
    """A sign-in that did not end in a redirect (the form shown again, a 4xx) counts against the limits."""
    return not 300 <= response.status_code < 400
