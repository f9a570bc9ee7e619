"""The console: the dashboard, composing with a preview, publishing, and each update's delivery status."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from crisiscast.core.domain import (
    CHANNEL_LABELS,
    CHANNELS,
    ER_ACCESS,
    OPERATING_STATUS,
    DeliveryState,
    Draft,
    ValidationError,
)
from crisiscast.core import guards
from crisiscast.core.rendering import fingerprint
from crisiscast.public import site
from crisiscast.sending import sms_recipients
from crisiscast.services import accounts, dashboard, delivery_receipts, drafts, publishing, review, subscribers
from crisiscast.store.models import Delivery, Update
from crisiscast.web import queueing
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, form_values, runtime, settings

bp = Blueprint("console", __name__)
UID = re.compile(r"^[0-9a-f]{12}$")


@bp.get("/")
@login_required()
def index():
    queue_health = queueing.health()
    return render_template("console/index.html", updates=dashboard.recent_updates(db()),
                           channels=_channel_status(with_health=True), queue_health=queue_health,
                           recovery=queueing.recovery(queue_health), labels=CHANNEL_LABELS,
                           tally=dashboard.delivery_tally(db()),
                           states=("pending", "sending", "sent", "partial", "failed", "in_doubt"))


@bp.route("/updates/new", methods=("GET", "POST"))
@login_required("author")
def compose():
    if request.method == "GET":
        return _start()
    uid = request.form.get("uid", "")
    values = form_values(request.form)
    if not UID.match(uid):
        flash("The form had lost its identifier, so nothing was checked or published. Your text is below: "
              "preview again.", "error")
        return _form(values, uid=publishing.new_uid()), 400
    draft = Draft.from_form(values)
    published = publishing.published(db(), uid)
    if published is not None and publishing.differs(published, draft):
        return _edited_after_publish(values, published), 409
    try:
        renderings = publishing.check_draft(db(), draft, settings(), uid)
    except ValidationError as exc:
        return _form(values, uid=uid, errors=exc.errors), 422
    held = _held_back(values, uid, draft, renderings)
    if held is not None:
        return held
    result = publishing.publish(db(), draft, uid=uid, author=g.user, settings=settings(),
                              channels=runtime().channels, enqueue=queueing.enqueue_delivery)
    if result.created:
        drafts.discard(db(), g.user)
        if g.get("acknowledged_warnings"):
            review.record_acknowledgement(db(), result.update, g.acknowledged_warnings, g.user.username)
    if not result.created:
        flash("This update was already published; it was not sent again.", "info")
    elif not result.queued:
        flash("Published and saved, but the job queue is unreachable: deliveries are waiting for the queue.",
              "warning")
    else:
        flash("Published. Deliveries are on their way.", "success")
    return redirect(url_for("console.update", update_id=result.update.id))


@bp.post("/updates/draft")
@login_required("author")
def save_draft():
    """Called by the composer as the author types (and by any form that would otherwise lose the text)."""
    saved = drafts.save(db(), g.user, form_values(request.form))
    return {"saved_at": saved.saved_at.strftime("%H:%M:%S UTC")}


@bp.post("/updates/draft/discard")
@login_required("author")
def discard_draft():
    drafts.discard(db(), g.user)
    flash("The saved draft was thrown away.", "info")
    return redirect(url_for("console.compose"))


def recover_compose(reason: str):
    """A compose form refused by the CSRF check (expired, or signed out and in again in another tab): the same
    form again with what was typed and a fresh token, so nothing is lost. None when nobody is signed in."""
    if getattr(g, "user", None) is None or not accounts.has_role(g.user, "author"):
        return None
    values = form_values(request.form)
    drafts.save(db(), g.user, values)
    flash("The form's security token had expired, so nothing was published or sent. Everything you typed is below: "
          "check it and preview again.", "warning")
    uid = request.form.get("uid", "")
    return _form(values, uid=uid if UID.match(uid) else publishing.new_uid()), 400


def _start():
    """The composer, opening on the author's saved draft when there is one."""
    corrects = request.args.get("corrects", "")
    saved = None if corrects else drafts.load(db(), g.user)
    if saved is None:
        configured = [c["name"] for c in _channel_status() if c["configured"]]
        return _form(dashboard.starting_values(db(), configured, corrects), uid=publishing.new_uid())
    uid = saved.values.get("uid", "")
    if not UID.match(uid) or publishing.published(db(), uid) is not None:
        uid = publishing.new_uid()
    flash(f"Your unsent draft from {saved.saved_at:%H:%M} UTC is back.", "info")
    return _form(saved.values, uid=uid, preview={"restored": True})


def _held_back(values: dict, uid: str, draft: Draft, renderings):
    """The preview page when this request must not publish yet (a preview, a stale preview, an unticked
    warning); None when it may."""
    digest = fingerprint(renderings, draft.lists)
    found = review.warnings(draft, settings())
    wants_publish = request.form.get("action") == "publish"
    current = request.form.get("digest") == digest
    acknowledged = not found or request.form.get("acknowledge") == guards.acknowledgement(found)
    if wants_publish and current and acknowledged:
        if found:
            g.acknowledged_warnings = found
        return None
    estimate = publishing.sms_estimate(db(), draft, settings(), renderings["sms"]) if "sms" in renderings else None
    if wants_publish:
        flash("The text or the lists changed since the preview. Check the preview below, then publish."
              if not current else "Check the warnings below and tick the box to confirm, then publish.", "warning")
    preview = {"renderings": renderings, "digest": digest, "estimate": estimate, "warnings": found}
    return _form(values, uid=uid, preview=preview), 409 if wants_publish else 200


def _edited_after_publish(values: dict, published: Update):
    """Edits sent after the update went out: never dropped; offered as a correction of it, or a new update."""
    flash(f"“{published.headline}” was already published at {published.published_at:%H:%M} UTC, and your edits "
          "were not sent. Choose below: publish them as a correction of it, or as a new update.", "warning")
    return _form({**values, "corrects": published.uid}, uid=publishing.new_uid(), preview={"edited": published})


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
        failures = dashboard.sms_failures(session, sms.id)
    # Receipts keep arriving after the sends finish; keep refreshing until none is outstanding.
    awaiting = dashboard.receipts_outstanding(receipts_by_status)
    unfinished = any(d.state not in DeliveryState.FINAL for d in found.deliveries)
    moving = unfinished or awaiting > 0
    waiting_for_queue = unfinished and queueing.health() != "ok"
    return {"sms_counts": counts, "sms_receipts": receipts_by_status, "sms_failures": failures, "moving": moving,
            "labels": CHANNEL_LABELS, "waiting_for_queue": waiting_for_queue}


def _form(values: dict, uid: str, errors=None, preview: dict | None = None):
    """The compose page; `preview` holds the renderings, their digest, the SMS estimate and the guard warnings."""
    preview = {"renderings": None, "digest": "", "estimate": None, "warnings": [], "restored": False,
               "edited": None, **(preview or {})}
    return render_template(
        "console/compose.html", values=values, chosen=values.get("channels", []), uid=uid, errors=errors or {},
        acknowledgement=guards.acknowledgement(preview["warnings"]), chosen_lists=values.get("lists", []),
        er_access=ER_ACCESS, operating_status=OPERATING_STATUS, channels=_channel_status(), labels=CHANNEL_LABELS,
        lists=subscribers.all_lists(db()), list_counts=subscribers.list_counts(db()),
        incidents=dashboard.incident_titles(db()), **preview,
    )


def _channel_status(with_health: bool = False) -> list[dict]:
    result = []
    for name in CHANNELS:
        channel = runtime().channels[name]
        missing = channel.missing_settings()
        result.append({"name": name, "label": channel.label, "configured": not missing, "missing": missing,
                       "target": channel.describe(),
                       "health": queueing.channel_health(name) if with_health and name != "feed" else None})
    return result
