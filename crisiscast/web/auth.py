"""Sign-in, sign-out, and the role checks every console page goes through."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from crisiscast.services import accounts
from crisiscast.services.refusals import Refusal
from crisiscast.store.models import User
from crisiscast.web import limits
from crisiscast.web.helpers import db

bp = Blueprint("auth", __name__)


def init_app(app) -> None:
    app.before_request(load_user)


def load_user() -> None:
    user_id = session.get("user_id")
    g.user = db().get(User, user_id) if user_id else None
    if g.user is not None and not g.user.active:
        session.clear()
        g.user = None


def login_required(role: str = "viewer"):
    """Send anonymous visitors to sign in; refuse signed-in staff whose role is too low."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(**kwargs):
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if not accounts.has_role(g.user, role):
                abort(403)
            return view(**kwargs)

        return wrapped

    return decorate


@bp.route("/login", methods=("GET", "POST"))
@limits.throttled
def login():
    if request.method == "POST":
        user = accounts.authenticate(db(), request.form.get("username", ""), request.form.get("password", ""),
                                     source=request.remote_addr or "")
        if user is not None:
            session.clear()
            session["user_id"] = user.id
            return redirect(_safe_next(request.args.get("next")))
        limits.record_refusal(Refusal("sign_in", request.remote_addr or "", limits.username()))
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", username=request.form.get("username", ""))


@bp.post("/logout")
def logout():
    if g.user is not None:
        accounts.sign_out(db(), g.user.username)
    session.clear()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted link cannot bounce a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("console.index")
