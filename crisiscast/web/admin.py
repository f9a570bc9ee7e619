"""Staff accounts (admins) and the SMS subscriber list (authors)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import accounts, services
from ..domain import ValidationError
from ..models import Subscriber, User
from .auth import login_required
from .helpers import db

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
    everyone = db().scalars(select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=everyone, roles=accounts.ROLES, errors=errors,
                           values=values), 422 if errors else 200


@bp.post("/admin/users/<int:user_id>")
@login_required("admin")
def change_user(user_id: int):
    if user_id == g.user.id and (request.form.get("role") != "admin" or not request.form.get("active")):
        flash("You cannot take away your own admin rights; ask another admin.", "error")
        return redirect(url_for("admin.users"))
    try:
        user = accounts.set_role(db(), user_id, request.form.get("role", ""), bool(request.form.get("active")),
                                 actor=g.user.username)
        if request.form.get("password"):
            accounts.set_password(db(), user_id, request.form["password"], actor=g.user.username)
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    else:
        changed = " and has a new password" if request.form.get("password") else ""
        flash(f"{user.username} is now {user.role}{'' if user.active else ', disabled'}{changed}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/subscribers", methods=("GET", "POST"))
@login_required()
def subscribers():
    errors, values = {}, {}
    if request.method == "POST":
        if not accounts.has_role(g.user, "author"):
            flash("Only authors and admins can add subscribers.", "error")
            return redirect(url_for("admin.subscribers"))
        values = request.form
        try:
            added = services.add_subscriber(db(), values.get("phone", ""), values.get("name", ""), g.user.username)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"{added.phone} will receive SMS alerts.", "success")
            return redirect(url_for("admin.subscribers"))
    rows = db().scalars(select(Subscriber).order_by(Subscriber.active.desc(), Subscriber.id.desc()).limit(500)).all()
    return render_template("admin/subscribers.html", subscribers=rows, errors=errors, values=values,
                           active=services.active_subscriber_count(db())), 422 if errors else 200


@bp.post("/subscribers/<int:subscriber_id>/remove")
@login_required("author")
def remove_subscriber(subscriber_id: int):
    services.remove_subscriber(db(), subscriber_id, g.user.username)
    flash("Removed: no more alerts go to that number.", "success")
    return redirect(url_for("admin.subscribers"))
