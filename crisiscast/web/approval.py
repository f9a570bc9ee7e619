"""Two-person approval in the console: the request an author's Publish makes when APPROVAL_REQUIRED is on, the
page approvers decide on (the preview exactly as it goes out), and the banner on every page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from crisiscast.core import placeholders
from crisiscast.core.audience import INTERNAL, INTERNAL_NOTICE
from crisiscast.core.domain import CHANNEL_LABELS, ValidationError
from crisiscast.core.text import scrub
from crisiscast.services import approval, approval_inbox, drafts, publishing
from crisiscast.store.models import ApprovalRequest, utcnow
from crisiscast.web import approval_texts, queueing
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, runtime, settings

bp = Blueprint("approval", __name__)


@bp.app_context_processor
def banner() -> dict:
    """Pending requests for an approver, decided requests for their author: on every console page."""
    user = g.get("user")
    # Not on the public pages, nor on the fragment an update's page polls every 1.5 s.
    if user is None or request.blueprint in ("public", "webhooks") or request.endpoint == "console.deliveries":
        return {}
    try:
        waiting = approval_inbox.pending_count(db(), user) if approval.can_approve(user) else 0
        return {"approvals_waiting": waiting, "approvals_decided": approval_inbox.unseen_decisions(db(), user)}
    except SQLAlchemyError:  # the page (an error page, perhaps: the database is down) still shows, without it
        return {}


def request_approval(checked, uid: str):
    """Publish pressed with APPROVAL_REQUIRED on: keep the draft as a request (nothing is sent, nothing is
    public), tell the approvers, and show the author the request."""
    prepared = approval.Prepared(checked.draft, publishing.Checked(checked.audience, checked.renderings),
                                 checked.digest)
    try:
        found, new = approval.ask(db(), g.user, {**checked.values, "uid": uid}, prepared,
                                  [w.message for w in checked.warnings], utcnow())
    except approval.Refused as exc:  # an approver decided the earlier version a moment before
        flash(f"{exc} Your edits were not asked for; check the update before writing a correction.", "warning")
        return redirect(url_for("approval.index"))
    drafts.discard(db(), g.user)
    if new:
        told = approval_texts.ask_approvers(found)
        flash(f"Waiting for approval: nothing has been sent. {told}", "success")
    else:
        flash("This is already waiting for approval; it was not asked again.", "info")
    for notice in checked.notices.values():
        flash(notice, "warning")
    return redirect(url_for("approval.show", request_id=found.id))


@bp.get("/approvals")
@login_required("author")
def index():
    return render_template("approval/index.html", requests=approval_inbox.listing(db()),
                           may_approve=approval.can_approve(g.user))


@bp.get("/approvals/<int:request_id>")
@login_required("author")
def show(request_id: int):
    found = db().get(ApprovalRequest, request_id) or abort(404)
    approval_inbox.seen_by(db(), found, g.user)
    return _page(found)


@bp.post("/approvals/<int:request_id>/approve")
@login_required("author")
def approve(request_id: int):
    found = db().get(ApprovalRequest, request_id) or abort(404)
    result, refused = _decided(found, lambda: approval.approve(db(), request_id, _decision(), _sending()))
    if refused:
        return refused
    flash("Approved and published: deliveries are on their way." if result.queued else
          "Approved and published, but the job queue is unreachable: deliveries are waiting for it.",
          "success" if result.queued else "warning")
    return redirect(url_for("console.update", update_id=result.update.id))


@bp.post("/approvals/<int:request_id>/reject")
@login_required("author")
def reject(request_id: int):
    found = db().get(ApprovalRequest, request_id) or abort(404)
    reason = scrub(request.form.get("reason", "")).text
    _, refused = _decided(found, lambda: approval.reject(db(), request_id, _decision(reason)), reason)
    if refused:
        return refused
    flash("Rejected: the author sees your reason and can change the draft.", "success")
    return redirect(url_for("approval.show", request_id=request_id))


@bp.post("/approvals/<int:request_id>/break-glass")
@login_required("author")
def break_glass(request_id: int):
    found = db().get(ApprovalRequest, request_id) or abort(404)
    reason = scrub(request.form.get("reason", "")).text
    result, refused = _decided(found, lambda: approval.break_glass(db(), request_id, _decision(reason), _sending()),
                               reason)
    if refused:
        return refused
    told = approval_texts.tell_of_break_glass(found)
    flash(f"Published WITHOUT approval; this is marked and in the audit log. {told}", "warning")
    return redirect(url_for("console.update", update_id=result.update.id))


def _decided(found: ApprovalRequest, decide, typed: str = ""):
    """(what `decide` returned, None), or (None, the answer saying why it was refused, with what was typed)."""
    typed = typed[:approval.REASON_MAX * 2]
    try:
        return decide(), None
    except approval.Changed as exc:
        flash(str(exc), "warning")
        return None, (_page(found, exc.prepared, typed_reason=typed), 409)
    except approval.Refused as exc:
        flash(str(exc), "error")
        return None, redirect(url_for("approval.show", request_id=found.id))
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
        return None, (_page(found, typed_reason=typed), 422)


@bp.post("/approvals/<int:request_id>/withdraw")
@login_required("author")
def withdraw(request_id: int):
    """The author takes the request back; the draft can be reopened in the composer from the request's page."""
    db().get(ApprovalRequest, request_id) or abort(404)
    try:
        approval.withdraw(db(), request_id, _decision())
    except approval.Refused as exc:
        flash(str(exc), "error")
    else:
        flash("Withdrawn: nothing was sent, and approvers can no longer approve it.", "success")
    return redirect(url_for("approval.show", request_id=request_id))


@bp.post("/approvals/<int:request_id>/reopen")
@login_required("author")
def reopen(request_id: int):
    """The author takes a rejected request back into the composer, with everything they wrote."""
    found = db().get(ApprovalRequest, request_id) or abort(404)
    if found.author_id != g.user.id or found.state not in (approval.REJECTED, approval.WITHDRAWN):
        flash("Only its author can reopen a rejected or withdrawn request.", "error")
        return redirect(url_for("approval.show", request_id=request_id))
    drafts.save(db(), g.user, placeholders.fill_form(found.values, placeholders.values_from(found.values)))
    return redirect(url_for("console.compose"))


def _decision(reason: str = "") -> approval.Decision:
    """The signed-in person deciding now, on the version the form says they saw."""
    return approval.Decision(g.user, utcnow(), request.form.get("seen", "")[:64], reason)


def _sending() -> approval.Sending:
    return approval.Sending(settings(), runtime().channels, queueing.enqueue_delivery)


def _page(found: ApprovalRequest, prepared: approval.Prepared | None = None, typed_reason: str = ""):
    """The request: the preview of what goes out now, and what this person may do with it."""
    problem = ""
    if prepared is None and found.state == approval.PENDING:
        try:
            prepared = approval.prepare(db(), found.values, settings(), found.uid, runtime().channels)
        except ValidationError as exc:
            problem = " ".join(exc.errors.values())
    preview = _preview(prepared) if prepared else {}
    mine = found.author_id == g.user.id
    return render_template(
        "approval/request.html", req=found, mine=mine, problem=problem, typed_reason=typed_reason,
        may_decide=found.state == approval.PENDING and approval.can_approve(g.user) and not mine,
        changed=bool(prepared) and prepared.digest != found.content_hash, decided=approval.decided_text(found),
        glass_opens=approval.glass_opens(found, settings()), now=utcnow(), reason_max=approval.REASON_MAX,
        **preview)


def _preview(prepared: approval.Prepared) -> dict:
    """What console/_preview.html needs, from the rendering made now; acknowledged warnings are shown apart."""
    renderings, draft = prepared.checked.renderings, prepared.draft
    estimate = publishing.sms_estimate(db(), draft, settings(), renderings["sms"]) if "sms" in renderings else None
    return {"renderings": renderings, "digest": prepared.digest, "estimate": estimate, "labels": CHANNEL_LABELS,
            "chosen_lists": draft.lists, "internal": prepared.checked.audience == INTERNAL,
            "internal_notice": INTERNAL_NOTICE, "warnings": [], "errors": {}, "live": False, "open_all": True,
            "draft": draft}
