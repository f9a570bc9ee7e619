"""Public pages that need no sign-in: the feeds and each update's permalink page."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select

from .. import feeds
from ..models import Update
from .helpers import db, settings

bp = Blueprint("public", __name__)


@bp.get("/feed.rss")
def rss():
    return Response(feeds.rss(db(), settings()), mimetype="application/rss+xml",
                    headers={"Cache-Control": "public, max-age=10"})


@bp.get("/feed.atom")
def atom():
    return Response(feeds.atom(db(), settings()), mimetype="application/atom+xml",
                    headers={"Cache-Control": "public, max-age=10"})


@bp.get("/u/<uid>")
def update(uid: str):
    found = db().scalar(select(Update).where(Update.uid == uid))
    if found is None:
        abort(404)
    return render_template("public/update.html", update=found)
