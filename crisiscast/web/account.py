"""A signed-in user's own account: change the password, their mobile for staff texts, sign out everywhere."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import logout_user

from crisiscast.core.domain import ValidationError
from crisiscast.core.phones import PhonePolicy
from crisiscast.services import accounts, sessions
from crisiscast.web.auth import login_required, sign_in
from crisiscast.web.helpers import db, settings

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required()
def index():
    return _page({})


@bp.post("/account/password")
@login_required()
def change_password():
    form = request.form
    try:
        accounts.change_own_password(db(), g.user, form.get("current", ""), form.get("password", ""))
    except ValidationError as exc:
        return _page(exc.errors), 422
    sign_in(g.user)  # every session ended with the old password; this browser carries on in a new one
    flash("Your password is changed. You are signed out everywhere else.", "success")
    return redirect(url_for("account.index"))


@bp.post("/account/phone")
@login_required()
def change_phone():
    try:
        phone = accounts.set_own_phone(db(), g.user, request.form.get("phone", ""), PhonePolicy.of(settings()))
    except ValidationError as exc:
        return _page(exc.errors, typed=request.form.get("phone", "")), 422
    flash("Your mobile number is saved." if phone else "Your mobile number is removed.", "success")
    return redirect(url_for("account.index"))


@bp.post("/account/sign-out-everywhere")
@login_required()
def sign_out_everywhere():
    accounts.sign_out_everywhere(db(), g.user)
    logout_user()
    session.clear()
    flash("You are signed out everywhere, this browser included.", "success")
    return redirect(url_for("auth.login"))


def _page(errors: dict, typed: str | None = None):
    phone = g.user.phone if typed is None else typed
    return render_template("account/index.html", errors=errors, phone=phone,
                           open_sessions=sessions.count(db(), g.user.id))
