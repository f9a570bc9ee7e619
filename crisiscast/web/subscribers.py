"""SMS subscribers: counts per list, search, add and remove numbers, CSV import, lists."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from crisiscast import jobs
from crisiscast.core.domain import ValidationError
from crisiscast.core.phones import PhonePolicy
from crisiscast.core.fields import SEARCH_MAX, too_long
from crisiscast.services import accounts, subscriber_import, subscribers
from crisiscast.web import queueing
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, settings

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")
MAX_UPLOAD = 5 * 1024 * 1024


def _page(errors=None, values=None, report=None, status=200):
    query, list_name = request.args.get("q", ""), request.args.get("list", "")
    if too_long("search", query, SEARCH_MAX):
        abort(400, too_long("search", query, SEARCH_MAX))
    can_edit = accounts.has_role(g.user, "author")  # only they see full numbers, or search by them
    found = subscribers.search(db(), query, list_name, by_number=can_edit)
    return render_template(
        "subscribers/index.html", subscribers=found, query=query,
        list_name=list_name, lists=subscribers.all_lists(db()), counts=subscribers.list_counts(db()),
        active=subscribers.active_count(db()), errors=errors or {}, values=values or {}, report=report,
        can_edit=can_edit, consent_sources=subscribers.CONSENT_SOURCES), status


@bp.get("/")
@login_required()
def index():
    return _page()


@bp.post("/")
@login_required("author")
def add():
    values = request.form
    try:
        added = subscribers.add(db(), values.get("phone", ""), values.get("name", ""), values.getlist("lists"),
                                g.user.username, PhonePolicy.of(settings()))
    except ValidationError as exc:
        db().rollback()
        return _page(errors=exc.errors, values=values, status=422)
    flash(f"{added.phone} will receive SMS alerts for {', '.join(lst.name for lst in added.lists)}.", "success")
    _confirm([added.phone])
    return redirect(url_for("subscribers.index"))


@bp.post("/<int:subscriber_id>/remove")
@login_required("author")
def remove(subscriber_id: int):
    subscribers.remove(db(), subscriber_id, g.user.username)
    flash("Removed: no more alerts go to that number.", "success")
    return redirect(url_for("subscribers.index"))


@bp.post("/import")
@login_required("author")
def import_file():
    upload = request.files.get("file")
    raw = upload.read(MAX_UPLOAD + 1) if upload else request.form.get("csv", "").encode()
    if len(raw) > MAX_UPLOAD:
        return _page(errors={"file": "The file is larger than 5 MB; split it."}, status=422)
    if not raw.strip():
        return _page(errors={"file": "Choose a CSV file (number, name, lists) or paste its lines."}, status=422)
    try:
        report = subscriber_import.import_csv(db(), subscriber_import.decode(raw), g.user.username,
                                              PhonePolicy.of(settings()))
    except ValidationError as exc:
        return _page(errors=exc.errors, status=422)
    flash(f"Import: {report.summary()}.", "success" if not report.count("rejected") else "warning")
    _confirm(report.added())
    return _page(report=report)


def _confirm(numbers: list[str]) -> None:
    """With SMS_CONFIRM_ADDED, mark these numbers for their one confirmation text and queue the job sending it."""
    if not settings().SMS_CONFIRM_ADDED:
        return
    ids = subscribers.request_confirmations(db(), numbers)
    db().commit()
    try:
        jobs.enqueue_confirmations(queueing.queue(), ids)
    except Exception as exc:  # noqa: BLE001 - the numbers are added; only their confirmation waits
        flash(f"The confirmation texts could not be queued ({type(exc).__name__}); they are marked pending.",
              "warning")


@bp.post("/lists")
@login_required("admin")
def add_list():
    form = request.form
    try:
        created = subscribers.create_list(db(), form.get("name", ""), form.get("description", ""),
                                          bool(form.get("joinable")), g.user.username, public=bool(form.get("public")))
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        flash(f"List {created.name} created.", "success")
    return redirect(url_for("subscribers.index"))


@bp.post("/lists/<int:list_id>")
@login_required("admin")
def set_list_flags(list_id: int):
    form = request.form
    try:
        changed = subscribers.set_flags(db(), list_id, bool(form.get("public")), bool(form.get("joinable")),
                                        g.user.username, form.get("priority"))
    except ValidationError as exc:
        db().rollback()
        flash(" ".join(exc.errors.values()), "error")
    else:
        flash(f"List {changed.name}: {'public' if changed.public else 'internal (staff only)'}, "
              f"{'joinable by text' if changed.joinable else 'staff add only'}. Send order {changed.priority} "
              "(1 first). Updates already sent keep their audience.", "success")
    return redirect(url_for("subscribers.index"))
