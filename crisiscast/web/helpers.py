"""Request-scoped access to the runtime: the database session, channels, settings."""
from __future__ import annotations

from flask import current_app, g

from crisiscast.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["crisiscast"]


def db():
    """The request's database session, closed when the request ends."""
    if "db" not in g:
        g.db = runtime().sessions()
    return g.db


def settings():
    return runtime().settings
