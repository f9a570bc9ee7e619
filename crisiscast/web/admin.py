"""Staff accounts: create them, change roles, switch them off, set passwords (admins only)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from crisiscast.core.domain import ValidationError
from crisiscast.services import accounts
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
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        if user.id == g.user.id and form.get("password"):
            sign_in(user)  # the new password ended every session of theirs, this one too: carry on in a new one
        changed = " and has a new password" if form.get("password") else ""
        flash(f"{user.username} is now {user.role}{'' if user.active else ', disabled'}{changed}.", "success")
    return redirect(url_for("admin.users"))
