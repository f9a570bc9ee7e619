"""Bad input answered as a clear 4xx, never a 500: bounded ids, refused NUL bytes, friendly error pages."""
from __future__ import annotations

import logging

from flask import Response, g, render_template, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from crisiscast.core.text import is_clean

log = logging.getLogger(__name__)
# PostgreSQL's INTEGER, the narrowest id column we have: a larger id cannot name a row on any database.
ID_MAX = 2**31 - 1
TITLES = {400: "This request could not be accepted", 403: "You do not have access to this page",
          404: "There is nothing at this address", 405: "This page does not accept that kind of request",
          413: "That was too large to accept"}
MESSAGES = {
    400: "Something in the request could not be read. Nothing was saved or sent.",
    403: "Your account's role does not allow this. Ask an admin if you need it.",
    404: "Check the address; the update, subscriber or page may not exist.",
    405: "Use the page's own buttons and forms rather than typing the address.",
    413: "The request is larger than crisiscast accepts. Nothing was saved or sent; send a smaller file or text.",
}


class IdConverter(IntegerConverter):
    """`<int:…>` bounded to the ids a database can hold, so a huge number is a 404 and not an overflow."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", ID_MAX)
        super().__init__(url_map, *args, **kwargs)


def parse_id(value: str | None) -> int | None:
    """An id from a query string or form: ASCII digits within ID_MAX, else None."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= ID_MAX else None


def init_app(app) -> None:
    """Install the bounded id converter (before any route is added) and the handlers; call it first."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_control_characters)
    for code in TITLES:
        app.register_error_handler(code, http_error)
    app.register_error_handler(DataError, database_refused)


def refuse_control_characters():
    """400 for a NUL or other control character in the path or query string: no address of ours has one."""
    # `next` is only ever a redirect target, which core.urls.same_site_path checks (and names in its refusal).
    values = [request.path, *request.args.keys(), *(v for k, v in request.args.items(multi=True) if k != "next")]
    if not all(is_clean(value) for value in values):
        return _answer(400, "The address contains a control character (such as %00). Check the link.")
    return None


def http_error(exc: HTTPException):
    """A short page in words for the common refusals; the view's own reason when it gave one."""
    custom = exc.description if exc.description != type(exc).description else None
    return _answer(exc.code or 400, custom or MESSAGES.get(exc.code, MESSAGES[400]), exc)


def database_refused(_exc: DataError):
    """A value the database cannot store (too long, out of range, a NUL byte): 400, nothing saved."""
    if "db" in g:
        g.db.rollback()
    log.warning("database refused a value on %s %s", request.method, request.path)
    return _answer(400, "A value in the request is too long or not one the database can store. "
                        "Nothing was saved or sent.")


def _answer(code: int, message: str, exc: HTTPException | None = None):
    headers = exc.get_headers() if exc is not None else []
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    if request.blueprint == "webhooks" or request.blueprint == "public":
        return Response(message + "\n", status=code, headers=headers, mimetype="text/plain")
    page = render_template("errors/http.html", code=code, title=TITLES.get(code, TITLES[400]), message=message)
    return Response(page, status=code, headers=headers, mimetype="text/html")
