"""Staff accounts: roles, password hashing (scrypt), sign-in with an audit trail."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.core.domain import ValidationError
from crisiscast.core.fields import PASSWORD_MAX
from crisiscast.store import audit
from crisiscast.store.models import User

ROLES = ("viewer", "author", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Checking a password against this when the user does not exist keeps the timing the same.
_DUMMY_HASH = None


def hash_password(password: str) -> str:
    """scrypt$n$r$p$salt$hash, all hex."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def has_role(user: User, role: str) -> bool:
    """True when `user` is active and has `role` or a higher one (admin > author > viewer)."""
    return bool(user and user.active and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role])


def create_user(session: Session, username: str, password: str, role: str, actor: str) -> User:
    """Add a staff account; ValidationError on a taken name, an unknown role or a short password."""
    username = username.strip().lower()
    errors = {}
    if not username or len(username) > 80 or not all(c.isalnum() or c in "._-" for c in username):
        errors["username"] = "Use letters, digits, dots, dashes or underscores (at most 80)."
    elif session.scalar(select(User).where(func.lower(User.username) == username)):
        errors["username"] = f"There is already an account named {username}."
    if role not in ROLES:
        errors["role"] = f"Choose one of: {', '.join(ROLES)}."
    if len(password) < 10:
        errors["password"] = "Use at least 10 characters."
    elif len(password) > PASSWORD_MAX:
        errors["password"] = f"Use at most {PASSWORD_MAX} characters."
    if errors:
        raise ValidationError(errors)
    user = User(username=username, password_hash=hash_password(password), role=role, active=True)
    session.add(user)
    audit.record(session, actor=actor, action="user_created", outcome="ok", target=username, message=f"role {role}")
    session.commit()
    return user


def set_role(session: Session, user_id: int, role: str, active: bool, actor: str) -> User:
    """Change an account's role or switch it off; the change is audited."""
    if role not in ROLES:
        raise ValidationError({"role": f"Choose one of: {', '.join(ROLES)}."})
    user = session.get(User, user_id)
    if user is None:
        raise ValidationError({"user": "No such account."})
    before = f"{user.role}{'' if user.active else ' (disabled)'}"
    user.role, user.active = role, active
    after = f"{role}{'' if active else ' (disabled)'}"
    audit.record(session, actor=actor, action="user_changed", outcome="ok", target=user.username,
                 message=f"{before} → {after}")
    session.commit()
    return user


def change_account(session: Session, user_id: int, role: str, active: bool, actor: User, password: str = "") -> User:
    """An admin's change to an account: role, on or off, and a new password if given. Nobody demotes or switches
    off themself, so there is always an admin who can undo a change."""
    if user_id == actor.id and (role != "admin" or not active):
        raise ValidationError({"role": "You cannot take away your own admin rights; ask another admin."})
    user = set_role(session, user_id, role, active, actor=actor.username)
    if password:
        set_password(session, user_id, password, actor=actor.username)
    return user


def set_password(session: Session, user_id: int, password: str, actor: str) -> User:
    """Give an account a new password (the first admin's printed one, a forgotten one); audited, never logged."""
    if len(password) < 10:
        raise ValidationError({"password": "Use at least 10 characters."})
    if len(password) > PASSWORD_MAX:
        raise ValidationError({"password": f"Use at most {PASSWORD_MAX} characters."})
    user = session.get(User, user_id)
    if user is None:
        raise ValidationError({"user": "No such account."})
    user.password_hash = hash_password(password)
    audit.record(session, actor=actor, action="password_changed", outcome="ok", target=user.username)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str, source: str = "") -> User | None:
    """The active user with these credentials, or None; both outcomes are audited."""
    name = (username or "").strip().lower()
    user = session.scalar(select(User).where(func.lower(User.username) == name)) if name else None
    valid = check_password(user.password_hash if user else _dummy_hash(), password or "")
    ok = bool(user and user.active and valid)
    audit.record(session, actor=name[:80] or "?", action="sign_in", outcome="ok" if ok else "refused",
                 target=source, message="" if ok else "wrong username or password, or account disabled")
    session.commit()
    return user if ok else None


def sign_out(session: Session, username: str) -> None:
    """Record that `username` signed out."""
    audit.record(session, actor=username, action="sign_out", outcome="ok")
    session.commit()


def all_users(session: Session) -> list[User]:
    """Every account, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def ensure_admin(session: Session, password: str | None = None) -> str | None:
    """Create the first admin if there is no account at all; return its one-time password when we made one up."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    generated = None if password else secrets.token_urlsafe(12)
    create_user(session, "admin", password or generated, "admin", actor=audit.SYSTEM)
    return generated


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH
