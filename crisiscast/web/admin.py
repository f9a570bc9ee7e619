"""Admins only: staff accounts (create, change roles, switch off, set passwords) and message templates."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from crisiscast.core import placeholders
from crisiscast.core.domain import CHANNEL_LABELS, CHANNELS, ER_ACCESS, OPERATING_STATUS, ValidationError
from crisiscast.services import accounts, subscribers, templates
from crisiscast.store.models import MessageTemplate
from crisiscast.web.auth import login_required, sign_in
from crisiscast.web.helpers import db

bp = Blueprint("admin", __name__)


@bp.route("/admin/users", methods=("GET", "POST"))
@login_required("admin")
def users():
    errors, values = {}, {}
    if request.method == "POST":
        values = request.form
        try:
            user = accounts.create_user(db(), values.get("username", ""), values.get("password", ""),
                                        values.get("role", ""), actor=g.user.username)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Account {user.username} created as {user.role}.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/users.html", users=accounts.all_users(db()), roles=accounts.ROLES, errors=errors,
                           values=values), 422 if errors else 200


@bp.post("/admin/users/<int:user_id>")
@login_required("admin")
def change_user(user_id: int):
    form = request.form
    try:
        user = accounts.change_account(db(), user_id, form.get("role", ""), bool(form.get("active")), actor=g.user,
                                       password=form.get("password", ""))
        accounts.set_approver(db(), user_id, bool(form.get("can_approve")), actor=g.user.username)
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        if user.id == g.user.id and form.get("password"):
            sign_in(user)  # the new password ended every session of theirs, this one too: carry on in a new one
        changed = " and has a new password" if form.get("password") else ""
        approver = ", an approver" if user.can_approve else ""
        flash(f"{user.username} is now {user.role}{approver}{'' if user.active else ', disabled'}{changed}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/admin/templates", methods=("GET", "POST"))
@login_required("admin")
def message_templates():
    if request.method == "POST":
        return _save_template(None)
    return render_template("admin/templates.html", templates=templates.by_use(db()), **_template_form({}))


@bp.route("/admin/templates/<int:template_id>", methods=("GET", "POST"))
@login_required("admin")
def edit_template(template_id: int):
    if request.method == "POST":
        return _save_template(template_id)
    found = db().get(MessageTemplate, template_id) or abort(404)
    values = {c.key: getattr(found, c.key) for c in MessageTemplate.__table__.columns}
    return render_template("admin/template_form.html", template=found, **_template_form(values))


@bp.post("/admin/templates/<int:template_id>/delete")
@login_required("admin")
def delete_template(template_id: int):
    try:
        name = templates.delete(db(), template_id, actor=g.user.username)
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        flash(f"Template “{name}” deleted. Updates made from it keep their text.", "success")
    return redirect(url_for("admin.message_templates"))


def _save_template(template_id: int | None):
    """Create or change a template; on a mistake the form comes back with what was typed and a 422."""
    cleaned = templates.clean_form(request.form)
    try:
        saved = templates.save(db(), cleaned, actor=g.user.username, template_id=template_id)
    except ValidationError as exc:
        existing = db().get(MessageTemplate, template_id) if template_id else None
        page = "admin/template_form.html" if template_id else "admin/templates.html"
        return render_template(page, template=existing, templates=templates.by_use(db()),
                               **_template_form(cleaned.values, exc.errors, cleaned.notices)), 422
    for notice in cleaned.notices:
        flash(notice, "warning")
    flash(f"Template “{saved.name}” saved.", "success")
    return redirect(url_for("admin.message_templates"))


def _template_form(values: dict, errors: dict | None = None, notices=()) -> dict:
    return {"values": values, "errors": errors or {}, "notices": notices, "channels": CHANNELS,
            "labels": CHANNEL_LABELS, "lists": subscribers.all_lists(db()), "er_access": ER_ACCESS,
            "operating_status": OPERATING_STATUS, "placeholders_in": placeholders.names}
