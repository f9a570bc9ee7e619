"""The overdue alarm: every console page a signed-in user sees names each promised update that is overdue."""
from __future__ import annotations

from flask import g
from sqlalchemy.exc import OperationalError

from crisiscast.services import promises
from crisiscast.store.models import utcnow
from crisiscast.web.helpers import db, settings


def init_app(app) -> None:
    """Give every template `overdue_promises` (empty for visitors who are not signed in)."""

    @app.context_processor
    def overdue_promises():
        if getattr(g, "user", None) is None:
            return {"overdue_promises": []}
        try:
            return {"overdue_promises": promises.overdue_now(db(), utcnow(), settings().TIMEZONE)}
        except OperationalError:  # the database-down page is rendering: it says so itself
            db().rollback()
            return {"overdue_promises": []}
