"""The console: the dashboard, composing with a preview, publishing, and each update's delivery status."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from crisiscast.core.domain import (
    CHANNEL_LABELS,
    CHANNELS,
    ER_ACCESS,
    OPERATING_STATUS,
    DeliveryState,
    Draft,
    ValidationError,
)
from crisiscast.public import site
from crisiscast.sending import sms_recipients
from crisiscast.services import delivery_receipts, publishing, subscribers
from crisiscast.store.models import Delivery, Incident, SmsRecipient, Update, utcnow
from crisiscast.web import queueing
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, form_values, runtime, settings

bp = Blueprint("console", __name__)
UID = re.compile(r"^[0-9a-f]{12}$")


@bp.get("/")
@login_required()
def index():
    updates = db().scalars(select(Update).order_by(Update.published_at.desc()).limit(20)).unique().all()
    since = utcnow() - timedelta(days=1)
    tally = {(c, s): n for c, s, n in db().execute(
        select(Delivery.channel, Delivery.state, func.count()).where(Delivery.created_at >= since)
        .group_by(Delivery.channel, Delivery.state))}
    queue_health = queueing.health()
    return render_template("console/index.html", updates=updates, channels=_channel_status(with_health=True),
                           queue_health=queue_health, recovery=queueing.recovery(queue_health),
                           labels=CHANNEL_LABELS, tally=tally,
                           states=("pending", "sending", "sent", "partial", "failed", "in_doubt"))


@bp.route("/updates/new", methods=("GET", "POST"))
@login_required("author")
def compose():
    if request.method == "GET":
        return _form(_starting_values(request.args.get("corrects", "")), uid=publishing.new_uid())
    uid = request.form.get("uid", "")
    if not UID.match(uid):
        abort(400, "The form is missing its identifier; reload the page.")
    values = form_values(request.form)
    draft = Draft.from_form(values)
    try:
        renderings = publishing.preview(draft, settings(), uid)
        if "sms" in draft.channels:
            subscribers.check_lists(db(), draft.lists)
    except ValidationError as exc:
        return _form(values, uid=uid, errors=exc.errors), 422
    digest = _digest(renderings, draft.lists)
    wants_publish = request.form.get("action") == "publish"
    if not wants_publish or request.form.get("digest") != digest:
        estimate = publishing.sms_estimate(db(), draft, settings(), renderings["sms"]) if "sms" in renderings else None
        if wants_publish:
            flash("The text or the lists changed since the preview. Check the preview below, then publish.",
                  "warning")
        return _form(values, uid=uid, renderings=renderings, digest=digest, estimate=estimate), \
            409 if wants_publish else 200
    result = publishing.publish(db(), draft, uid=uid, author=g.user, settings=settings(),
                              channels=runtime().channels, enqueue=queueing.enqueue_delivery)
    if not result.created:
        flash("This update was already published; it was not sent again.", "info")
    elif not result.queued:
        flash("Published and saved, but the job queue is unreachable: deliveries are waiting for the queue.",
              "warning")
    else:
        flash("Published. Deliveries are on their way.", "success")
    return redirect(url_for("console.update", update_id=result.update.id))


@bp.get("/updates/<int:update_id>")
@login_required()
def update(update_id: int):
    found = db().get(Update, update_id)
    if found is None:
        abort(404)
    return render_template("console/update.html", update=found, **_delivery_context(found))


@bp.get("/updates/<int:update_id>/deliveries")
@login_required()
def deliveries(update_id: int):
    """The deliveries fragment the update page polls while anything is still moving."""
    found = db().get(Update, update_id)
    if found is None:
        abort(404)
    return render_template("console/_deliveries.html", update=found, **_delivery_context(found))


@bp.post("/updates/<int:update_id>/retract")
@login_required("author")
def retract(update_id: int):
    try:
        # Rendered here and now, not queued: a retracted update must leave the public pages even if the
        # queue is down. Only the files it touches, so the request stays short however long the history.
        publishing.retract(db(), update_id, request.form.get("reason", ""), g.user.username,
                         lambda: site.publish(runtime().sessions, settings(), update_id))
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        flash("Retracted: it leaves the public status page and feeds, and CAP readers get a Cancel.", "success")
    return redirect(url_for("console.update", update_id=update_id))


@bp.post("/deliveries/<int:delivery_id>/retry")
@login_required("author")
def retry(delivery_id: int):
    try:
        delivery = publishing.retry_delivery(db(), delivery_id, g.user.username, queueing.enqueue_delivery)
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
        delivery = db().get(Delivery, delivery_id) or abort(404)
    else:
        flash(f"{CHANNEL_LABELS[delivery.channel]}: queued again.", "success")
    return redirect(url_for("console.update", update_id=delivery.update_id))


def _delivery_context(found: Update) -> dict:
    session = db()
    sms = next((d for d in found.deliveries if d.channel == "sms"), None)
    counts, receipts_by_status, failures = {}, {}, []
    if sms:
        counts = sms_recipients.counts(session, sms.id)
        receipts_by_status = delivery_receipts.status_counts(session, sms.id)
        failed = (SmsRecipient.state == "failed") | SmsRecipient.status.in_(delivery_receipts.FAILED)
        failures = session.scalars(select(SmsRecipient).where(SmsRecipient.delivery_id == sms.id, failed)
                                   .order_by(SmsRecipient.id).limit(100)).all()
    # Receipts keep arriving after the sends finish; keep refreshing until none is outstanding.
    awaiting = receipts_by_status.get("awaiting receipt", 0) + sum(
        n for status, n in receipts_by_status.items() if status in ("queued", "sending", "sent", "accepted"))
    unfinished = any(d.state not in DeliveryState.FINAL for d in found.deliveries)
    moving = unfinished or awaiting > 0
    waiting_for_queue = unfinished and queueing.health() != "ok"
    return {"sms_counts": counts, "sms_receipts": receipts_by_status, "sms_failures": failures, "moving": moving,
            "labels": CHANNEL_LABELS, "waiting_for_queue": waiting_for_queue}


def _form(values: dict, uid: str, errors=None, renderings=None, digest: str = "", estimate=None):
    return render_template(
        "console/compose.html", values=values, chosen=values.get("channels", []),
        chosen_lists=values.get("lists", []), uid=uid,
        errors=errors or {}, renderings=renderings, digest=digest, estimate=estimate, er_access=ER_ACCESS,
        operating_status=OPERATING_STATUS, channels=_channel_status(), labels=CHANNEL_LABELS,
        lists=subscribers.all_lists(db()), list_counts=subscribers.list_counts(db()), incidents=_incident_titles(),
    )


def _starting_values(corrects: str = "") -> dict:
    """Start from the latest update's incident and statuses (in a crisis most updates change one thing), or
    from the update being corrected."""
    original = db().scalar(select(Update).where(Update.uid == corrects)) if corrects else None
    if original is not None:
        return {"incident": original.incident.title, "er_access": original.er_access, "corrects": original.uid,
                "operating_status": original.operating_status, "headline": original.headline,
                "body": original.body, "next_update": original.next_update, "channels": ["feed"], "lists": []}
    latest = db().scalars(select(Update).order_by(Update.published_at.desc()).limit(1)).first()
    configured = [c["name"] for c in _channel_status() if c["configured"]]
    if latest is None:
        return {"channels": configured, "lists": ["public"]}
    return {"incident": latest.incident.title, "er_access": latest.er_access,
            "operating_status": latest.operating_status, "channels": configured, "lists": ["public"]}


def _incident_titles() -> list[str]:
    return db().scalars(select(Incident.title).order_by(Incident.created_at.desc()).limit(20)).all()


def _channel_status(with_health: bool = False) -> list[dict]:
    result = []
    for name in CHANNELS:
        channel = runtime().channels[name]
        missing = channel.missing_settings()
        result.append({"name": name, "label": channel.label, "configured": not missing, "missing": missing,
                       "target": channel.describe(),
                       "health": queueing.channel_health(name) if with_health and name != "feed" else None})
    return result


def _digest(renderings, lists) -> str:
    """A fingerprint of exactly what would be sent and to whom, so publish can tell the preview is current."""
    payload = json.dumps({"lists": sorted(lists), **{k: v.to_dict() for k, v in sorted(renderings.items())}},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
