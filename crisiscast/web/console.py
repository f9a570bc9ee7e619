"""The console: the dashboard, composing with a preview, publishing, and each update's delivery status."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from crisiscast.core.audience import EXERCISE, EXERCISE_NOTICE, INTERNAL, INTERNAL_NOTICE, PUBLIC
from crisiscast.core.domain import (
    CHANNEL_LABELS,
    CHANNELS,
    ER_ACCESS,
    OPERATING_STATUS,
    DeliveryState,
    ValidationError,
)
from crisiscast.core import guards, placeholders
from crisiscast.core.promise import QUICK_MINUTES
from crisiscast.core.text import removal_notice, scrub
from crisiscast.public import isolation, site
from crisiscast.sending import sms_recipients
from crisiscast.services import (
    accounts,
    dashboard,
    delivery_receipts,
    drafts,
    hics214,
    publishing,
    retraction,
    review,
    subscribers,
    templates,
)
from crisiscast.store.models import Delivery, MessageTemplate, Update
from crisiscast.web import approval, composing, queueing
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, form_values, runtime, settings

bp = Blueprint("console", __name__)
UID = re.compile(r"^[0-9a-f]{12}$")
# The dashboard offers the most used templates first, enough to fill a phone's first screen.
PICKER_ON_DASHBOARD = 4


@bp.get("/")
@login_required()
def index():
    queue_health = queueing.health()
    picker = templates.by_use(db()) if g.user.role in ("author", "admin") else []
    return render_template("console/index.html", updates=dashboard.recent_updates(db()),
                           picker_templates=picker[:PICKER_ON_DASHBOARD], more_templates=len(picker) > PICKER_ON_DASHBOARD,
                           channels=_channel_status(with_health=True), queue_health=queue_health,
                           recovery=queueing.recovery(queue_health), labels=CHANNEL_LABELS,
                           tally=dashboard.delivery_tally(db()), incidents=hics214.incidents(db()),
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
        uid = publishing.new_uid()
        return _form(composing.unchecked(values, uid), uid), 400
    checked = composing.check(values, uid)
    published = publishing.published(db(), uid)
    if published is not None and publishing.differs(published, checked.draft):
        return _edited_after_publish(values, published), 409
    if checked.errors:
        return _form(checked, uid), 422
    held = _held_back(checked, uid)
    if held is not None:
        return held
    if settings().APPROVAL_REQUIRED:  # a second person decides; nothing is stored as an update until then
        return approval.request_approval(checked, uid)
    result = publishing.publish(db(), checked.draft, uid=uid, author=g.user, settings=settings(),
                              channels=runtime().channels, enqueue=queueing.enqueue_delivery)
    if result.created:
        _published(result.update, values)
    if not result.created:
        flash("This update was already published; it was not sent again.", "info")
    elif not result.queued:
        flash("Published and saved, but the job queue is unreachable: deliveries are waiting for the queue.",
              "warning")
    else:
        flash("Published. Deliveries are on their way.", "success")
    for notice in checked.notices.values():
        flash(notice, "warning")
    return redirect(url_for("console.update", update_id=result.update.id))


@bp.post("/updates/preview")
@login_required("author")
def live_preview():
    """The preview, the counters and the Publish bar for the form as typed so far, swapped in place by script."""
    uid = _form_uid()
    checked = composing.check(form_values(request.form), uid)
    return render_template("console/_live.html", live=True, **_compose_context(checked, uid))


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
    uid = uid if UID.match(uid) else publishing.new_uid()
    return _form(composing.unchecked(values, uid), uid), 400


def _form_uid() -> str:
    uid = request.form.get("uid", "")
    if not UID.match(uid):
        abort(400, "The form is missing its identifier; reload the page.")
    return uid


def _published(update: Update, values: dict) -> None:
    """After a new update is stored: the draft is done, the template counted, the acknowledged warnings audited."""
    drafts.finish(db(), g.user, update)
    templates.record_use(db(), update, values.get("template", ""))
    if g.get("acknowledged_warnings"):
        review.record_acknowledgement(db(), update, g.acknowledged_warnings, g.user.username)


def _start():
    """A new draft: from a template, from the update it corrects, from the author's saved draft, or (on the
    template picker) blank."""
    corrects, chosen = request.args.get("corrects", ""), request.args.get("template", "")
    saved = None if corrects or chosen else drafts.load(db(), g.user)
    if saved is not None:
        uid = saved.values.get("uid", "")
        if not UID.match(uid) or publishing.published(db(), uid) is not None:
            uid = publishing.new_uid()
        flash(f"Your unsent draft from {saved.saved_at:%H:%M} UTC is back.", "info")
        return _form(composing.unchecked(saved.values, uid), uid, restored=True)
    configured = [c["name"] for c in _channel_status() if c["configured"]]
    starting = dashboard.starting_values(db(), configured, corrects)
    template = db().get(MessageTemplate, int(chosen)) if chosen.isdigit() else None
    if chosen and template is None:
        flash("That template no longer exists; start from another or from blank.", "warning")
    if template is not None:
        starting = templates.draft_values(template, starting)
        starting["channels"] = [c for c in starting["channels"] if c in configured]
    uid = publishing.new_uid()
    picker = template is None and not corrects
    return _form(composing.unchecked(starting, uid), uid, picker=templates.by_use(db()) if picker else None)


def _held_back(checked: composing.Checked, uid: str):
    """The preview page when this request must not publish yet (a preview, a stale preview, an unticked
    warning); None when it may."""
    found = checked.warnings
    wants_publish = request.form.get("action") == "publish"
    current = request.form.get("digest") == checked.digest
    acknowledged = not found or request.form.get("acknowledge") == guards.acknowledgement(found)
    if wants_publish and current and acknowledged:
        if found:
            g.acknowledged_warnings = found
        return None
    if wants_publish:
        flash("The text or the lists changed since the preview. Check the preview below, then publish."
              if not current else "Check the warnings below and tick the box to confirm, then publish.", "warning")
    return _form(checked, uid), 409 if wants_publish else 200


def _edited_after_publish(values: dict, published: Update):
    """Edits sent after the update went out: never dropped; offered as a correction of it, or a new update."""
    flash(f"“{published.headline}” was already published at {published.published_at:%H:%M} UTC, and your edits "
          "were not sent. Choose below: publish them as a correction of it, or as a new update.", "warning")
    uid = publishing.new_uid()
    return _form(composing.unchecked({**values, "corrects": published.uid}, uid), uid, edited=published)


@bp.get("/updates/<int:update_id>")
@login_required()
def update(update_id: int):
    found = db().get(Update, update_id)
    if found is None:
        abort(404)
    return render_template("console/update.html", update=found, **_delivery_context(found),
                           notify_count=retraction.recipients_to_notify(db(), found))


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
    reason = scrub(request.form.get("reason", ""))
    problems: dict[int, str] = {}
    render_failed = ""
    try:
        # Rendered here and now, not queued: a retracted update must leave the public pages even if the
        # queue is down. Only the files it touches, so the request stays short however long the history.
        withdrawn = publishing.retract(db(), update_id, reason.text, g.user.username,
                                       lambda: site.publish(runtime().sessions, settings(), update_id, problems))
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
        return redirect(url_for("console.update", update_id=update_id))
    except publishing.RenderFailed as exc:  # committed: what follows the retraction still happens
        withdrawn, render_failed = db().get(Update, update_id), str(exc)
    if request.form.get("text_recipients"):
        retraction.notify_recipients(db(), withdrawn, settings(), g.user.username)
    actions = retraction.pending_actions(db(), withdrawn)
    queued = _enqueue_all(actions)
    taken_down = ", ".join(CHANNEL_LABELS[d.channel] for d in actions) or "nothing else to take down"
    _retraction_flash(withdrawn, taken_down, "" if queued else " The job queue is unreachable: these wait for it.",
                      render_failed)
    _retraction_notes(problems, reason)
    return redirect(url_for("console.update", update_id=update_id))


def _retraction_flash(withdrawn: Update, taken_down: str, waiting: str, render_failed: str) -> None:
    """What staff read after a retraction: where it was withdrawn, and what could not be done."""
    if render_failed:
        flash(f"Retracted and saved, but the public files could not be written ({render_failed}): the public site "
              "still shows this update. Fix the cause, then run `flask --app crisiscast.web public rebuild`. "
              f"Taken down elsewhere: {taken_down}.{waiting}", "error")
        return
    public = ("it leaves the public status page and feeds, CAP readers get a Cancel" if withdrawn.audience == PUBLIC
              else "it was an exercise, so nothing public changes" if withdrawn.audience == EXERCISE
              else "it was internal (staff only), so nothing public changes")
    flash(f"Retracted: {public}; {taken_down}.{waiting}", "success")


def _enqueue_all(deliveries) -> bool:
    """Queue each delivery; False if the queue could not be reached (the outbox keeps them pending)."""
    try:
        for delivery in deliveries:
            queueing.enqueue_delivery(delivery.id, delivery.channel)
    except Exception:  # noqa: BLE001 - the reconciler queues pending deliveries once the queue is back
        return False
    return True


def _retraction_notes(problems: dict[int, str], reason) -> None:
    """Warn of updates the public site left out, and of control characters removed from the reason."""
    for problem in isolation.describe(problems):
        flash(f"{problem} The rest of the public site is current.", "warning")
    if reason.removed:
        flash(removal_notice("Reason", reason.removed), "warning")


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
    counts, receipts_by_status, failures, not_sent, progress = {}, {}, [], {}, None
    if sms:
        counts = sms_recipients.counts(session, sms.id)
        not_sent = sms_recipients.not_sent(session, sms.id)
        progress = dashboard.sms_progress(session, sms.id, counts)
        receipts_by_status = delivery_receipts.status_counts(session, sms.id)
        failures = dashboard.sms_failures(session, sms.id)
    # Receipts keep arriving after the sends finish; keep refreshing until none is outstanding.
    awaiting = dashboard.receipts_outstanding(receipts_by_status)
    unfinished = any(d.state not in DeliveryState.FINAL for d in found.deliveries)
    moving = unfinished or awaiting > 0
    waiting_for_queue = unfinished and queueing.health() != "ok"
    return {"sms_counts": counts, "sms_receipts": receipts_by_status, "sms_failures": failures, "moving": moving,
            "sms_not_sent": not_sent, "sms_progress": progress,
            "labels": CHANNEL_LABELS, "waiting_for_queue": waiting_for_queue}


def _form(checked: composing.Checked, uid: str, picker=None, restored: bool = False, edited: Update | None = None):
    """The compose page: the template picker when starting, the form, and its preview when there is one."""
    return render_template("console/compose.html", picker=picker, restored=restored, edited=edited,
                           **_compose_context(checked, uid))


def _compose_context(checked: composing.Checked, uid: str = "") -> dict:
    values = checked.values
    return {
        "values": values, "chosen": values.get("channels", []), "chosen_lists": values.get("lists", []),
        "uid": uid or values.get("uid", ""), "errors": checked.errors, "renderings": checked.renderings,
        "digest": checked.digest, "estimate": checked.estimate, "counts": checked.counts,
        "warnings": checked.warnings, "acknowledgement": guards.acknowledgement(checked.warnings),
        "asking": checked.asking, "publish_label": composing.publish_label(checked),
        "er_access": ER_ACCESS, "operating_status": OPERATING_STATUS, "channels": _channel_status(),
        "labels": CHANNEL_LABELS, "lists": subscribers.all_lists(db()), "list_counts": subscribers.list_counts(db()),
        "incidents": dashboard.incident_titles(db()), "label_of": placeholders.label,
        "internal": checked.audience == INTERNAL, "internal_notice": INTERNAL_NOTICE, "notices": checked.notices,
        "quick_minutes": QUICK_MINUTES, "zone_label": composing.zone_label(),
        "exercise": checked.audience == EXERCISE, "exercise_notice": EXERCISE_NOTICE, "skipped": checked.skipped,
    }


def _channel_status(with_health: bool = False) -> list[dict]:
    result = []
    for name in CHANNELS:
        channel = runtime().channels[name]
        missing = channel.missing_settings()
        result.append({"name": name, "label": channel.label, "configured": not missing, "missing": missing,
                       "target": channel.describe(),
                       "health": queueing.channel_health(name) if with_health and name != "feed" else None})
    return result
