"""Sign-in, sign-out, and the role checks every console page goes through."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from crisiscast.core.fields import PASSWORD_MAX, USERNAME_MAX, too_long
from crisiscast.core.text import clean
from crisiscast.core.urls import same_site_path
from crisiscast.services import accounts, sessions
from crisiscast.services.refusals import Refusal
from crisiscast.web import limits
from crisiscast.web.helpers import db, settings

bp = Blueprint("auth", __name__)
login_manager = LoginManager()


class SignedIn:
    """What Flask-Login keeps for a request: the account and the token of its server-side session."""

    is_authenticated, is_active, is_anonymous = True, True, False

    def __init__(self, user, token: str):
        self.user, self.token = user, token

    def get_id(self) -> str:
        """The session token: Flask-Login puts it in the signed cookie and hands it back to `load_session`."""
        return self.token


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_session)
    app.before_request(load_user)


def load_session(token: str) -> SignedIn | None:
    """The signed-in user of a live session; None for an ended, expired or disabled one."""
    user = sessions.resume(db(), token, sessions.Lifetime.from_settings(settings()))
    return SignedIn(user, token) if user is not None else None


def load_user() -> None:
    g.user = current_user.user if current_user.is_authenticated else None


def sign_in(user) -> None:
    """Start a new server-side session for `user` in a fresh cookie (nothing of an earlier one is kept)."""
    session.clear()
    login_user(SignedIn(user, sessions.start(db(), user)))
    g.user = user


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
        # NUL bytes cannot be in a username (PostgreSQL refuses them in a lookup); an overlong value is not tried.
        username, password = clean(request.form.get("username", "")), request.form.get("password", "")
        problem = too_long("username", username, USERNAME_MAX) or too_long("password", password, PASSWORD_MAX)
        if problem:
            flash(f"{problem} Nothing was tried.", "error")
            return render_template("auth/login.html", username=""), 400
        user = accounts.authenticate(db(), username, password, source=request.remote_addr or "")
        if user is not None:
            sign_in(user)
            return redirect(same_site_path(request.args.get("next")) or url_for("console.index"))
        limits.record_refusal(Refusal("sign_in", request.remote_addr or "", limits.username()))
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", username=clean(request.form.get("username", ""))[:USERNAME_MAX])


@bp.post("/logout")
def logout():
    if g.user is not None:
        sessions.end(db(), current_user.token)
        accounts.sign_out(db(), g.user.username)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
