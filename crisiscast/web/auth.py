"""Sign-in, sign-out, and the role checks every console page goes through."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from crisiscast.core.fields import PASSWORD_MAX, USERNAME_MAX, too_long
from crisiscast.core.text import clean
from crisiscast.services import accounts
from crisiscast.store.models import User
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
def login():
    if request.method == "POST":
        # NUL bytes cannot be in a username (PostgreSQL refuses them in a lookup); an overlong value is not tried.
        username, password = clean(request.form.get("username", "")), request.form.get("password", "")
        problem = too_long("username", username, USERNAME_MAX) or too_long("password", password, PASSWORD_MAX)
        if problem:
            flash(f"{problem} Nothing was tried.", "error")
            return render_template("auth/login.html", username=""), 400
        user = accounts.authenticate(db(), username, password, source=request.remote_addr or "")
        if user is not None:
            session.clear()
            session["user_id"] = user.id
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", username=clean(request.form.get("username", ""))[:USERNAME_MAX])


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
