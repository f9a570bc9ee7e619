"""Public pages that need no sign-in, rendered on the spot when their pre-rendered file is not there yet
(an update that went out without the feed, or before the site was rendered). Internal updates, and
incidents with only those, are not found here (crisiscast.core.audience).

Normally crisiscast.web.public_files answers these paths from PUBLIC_DIR before Flask sees them.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort

from crisiscast.public import feeds, site
from crisiscast.store.queries import public_incident_by_slug, public_update_by_uid
from crisiscast.web.helpers import db, settings

bp = Blueprint("public", __name__)
KINDS = {"rss": ("application/rss+xml", feeds.rss), "atom": ("application/atom+xml", feeds.atom),
         "json": ("application/feed+json", feeds.json_feed)}


@bp.get("/status")
def status():
    return Response(site.status_page(db(), settings()), mimetype="text/html",
                    headers={"Cache-Control": "public, max-age=10"})


@bp.get("/feed.<kind>")
def feed(kind: str):
    if kind not in KINDS:
        abort(404)
    mimetype, render = KINDS[kind]
    body = render(settings(), feeds.stories(db()), f"{settings().ORG_NAME}: status updates")
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "public, max-age=10"})


@bp.get("/u/<uid>")
def update(uid: str):
    found = public_update_by_uid(db(), uid)
    if found is None:  # unknown, or internal: staff-only updates have no public page
        abort(404)
    return Response(site.update_page(db(), settings(), found), mimetype="text/html")


@bp.get("/incidents/<slug>/feed.<kind>")
def incident_feed(slug: str, kind: str):
    incident = public_incident_by_slug(db(), slug)
    if incident is None or kind not in KINDS:
        abort(404)
    body = site.incident_feeds(db(), settings(), incident)[f"incidents/{slug}/feed.{kind}"]
    return Response(body, mimetype=KINDS[kind][0], headers={"Cache-Control": "public, max-age=10"})


@bp.get("/cap/<name>.xml")
def cap_alert(name: str):
    found = public_update_by_uid(db(), name.removesuffix("-cancel"))
    body = site.story_files(db(), settings(), found).get(f"cap/{name}.xml") if found else None
    if body is None:
        abort(404)
    return Response(body, mimetype="application/xml")
