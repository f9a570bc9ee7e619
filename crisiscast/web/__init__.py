"""The Flask application: create_app() shows the whole web side; blueprints stay thin."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError

import config
from crisiscast.core import promise
from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.core.masking import mask_phone
from crisiscast.runtime import Runtime
from crisiscast.web import errors, headers
from crisiscast.web.public_files import PublicFiles

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
csrf = CSRFProtect()


def duration(seconds: float) -> str:
    """12 s, 4 min 10 s, 2 h 47 min, 11 days 13 h: how long a fan-out will take, in words read at a glance."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} {seconds % 86400 // 3600} h"


def create_app(settings=None, runtime: Runtime | None = None) -> Flask:
    """Build the app from `settings` (default: config.load()); `runtime` may be shared with in-process workers."""
    settings = settings if settings is not None else config.load()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.update(settings, TESTING=settings.CRISISCAST_ENV == "testing")
    app.extensions["crisiscast"] = runtime or Runtime(settings)
    errors.init_app(app)  # first: its id converter must exist before any route, its checks before any other
    csrf.init_app(app)
    app.jinja_env.globals.update(ER_ACCESS=ER_ACCESS, OPERATING_STATUS=OPERATING_STATUS, mask_phone=mask_phone,
                                promise_of=promise.for_update)
    app.jinja_env.filters["duration"] = duration

    from crisiscast.web import (account, admin, approval, audit_log, auth, cli, console, drill_report, limits, overdue,
                                paperwork, public, queueing, subscribers, webhooks)

    queueing.init_app(app)
    overdue.init_app(app)
    auth.init_app(app)
    cli.init_app(app)
    for module in (auth, account, console, approval, admin, subscribers, audit_log, drill_report, paperwork, public,
                   webhooks):
        app.register_blueprint(module.bp)
    csrf.exempt(webhooks.bp)
    limits.init_app(app, settings)

    @app.teardown_appcontext
    def close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if request.endpoint == "console.compose" and request.method == "POST":
            auth.load_user()  # the CSRF check runs before the signed-in user is loaded
            recovered = console.recover_compose(exc.description)
            if recovered is not None:
                return recovered
        return render_template("errors/csrf.html", reason=exc.description), 400

    @app.errorhandler(OperationalError)
    def database_down(_exc):
        return render_template("errors/database.html"), 503

    headers.init_app(app, settings)
    hsts = headers.strict_transport_security(settings)
    app.wsgi_app = PublicFiles(app.wsgi_app, settings.PUBLIC_DIR, settings.PUBLIC_MAX_AGE, (hsts,) if hsts else ())
    # Outermost, so the public files and the app alike see the client nginx saw, not nginx.
    app.wsgi_app = headers.behind_proxies(app.wsgi_app, settings)
    return app
