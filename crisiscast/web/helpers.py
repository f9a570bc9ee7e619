"""Request-scoped access to the runtime: the database session, channels, settings."""
from __future__ import annotations

from flask import current_app, g

from crisiscast.runtime import Runtime
from crisiscast.settings import Settings


def runtime() -> Runtime:
    """The app's composition root: sessions, channels, settings."""
    return current_app.extensions["crisiscast"]


def db():
    """The request's database session, closed when the request ends."""
    if "db" not in g:
        g.db = runtime().sessions()
    return g.db


def settings() -> Settings:
    """The typed settings the app runs with (read attributes: `settings().ORG_NAME`)."""
    return runtime().settings


def form_values(form, lists: tuple[str, ...] = ("channels", "lists")) -> dict:
    """A submitted form as a plain dict: one string per field, a list for each field named in `lists`."""
    return {**form.to_dict(), **{name: form.getlist(name) for name in lists}}
