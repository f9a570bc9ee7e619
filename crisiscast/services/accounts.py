"""Staff accounts: roles, passwords (scrypt, see core.passwords), sign-in with an audit trail."""
from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.core.domain import ValidationError
from crisiscast.core.masking import mask_phone
from crisiscast.core.passwords import check_password, hash_password, needs_rehash, password_problem
from crisiscast.services import sessions
from crisiscast.core.text import clean
from crisiscast.store import audit
from crisiscast.store.models import User

ROLES = ("viewer", "author", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
# Checking a password against this when the user does not exist keeps the timing the same.
_DUMMY_HASH = None


def generate_password() -> str:
    """A random password for a new or reset account, printed once (it passes the policy)."""
    return secrets.token_urlsafe(16)


def has_role(user: User, role: str) -> bool:
    """True when `user` is active and has `role` or a higher one (admin > author > viewer)."""
    return bool(user and user.active and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role])


def create_user(session: Session, username: str, password: str, role: str, actor: str) -> User:
    """Add a staff account; ValidationError on a taken name, an unknown role or a weak password."""
    username = clean(username).strip().lower()
    errors = {}
    if not username or len(username) > 80 or not all(c.isalnum() or c in "._-" for c in username):
        errors["username"] = "Use letters, digits, dots, dashes or underscores (at most 80)."
    elif session.scalar(select(User).where(func.lower(User.username) == username)):
        errors["username"] = f"There is already an account named {username}."
    if role not in ROLES:
        errors["role"] = f"Choose one of: {', '.join(ROLES)}."
    if problem := password_problem(password, username):
        errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    user = User(username=username, password_hash=hash_password(password), role=role, active=True)
    session.add(user)
    audit.record(session, actor=actor, action="user_created", outcome="ok", target=username, message=f"role {role}")
    session.commit()
    return user


def set_role(session: Session, user_id: int, role: str, active: bool, actor: str) -> User:
    """Change an account's role or switch it off; the change is audited and ends the account's sessions."""
    user = _apply_role(session, _account(session, user_id), role, active, actor)
    session.commit()
    return user


def change_account(session: Session, user_id: int, role: str, active: bool, actor: User, password: str = "") -> User:
    """An admin's change to an account: role, on or off, and a new password if given, all or nothing. Nobody
    demotes or switches off themself, so there is always an admin who can undo a change."""
    if user_id == actor.id and (role != "admin" or not active):
        raise ValidationError({"role": "You cannot take away your own admin rights; ask another admin."})
    user = _account(session, user_id)
    if password and (problem := password_problem(password, user.username)):
        raise ValidationError({"password": problem})
    _apply_role(session, user, role, active, actor.username)
    if password:
        _apply_password(session, user, password, actor.username)
    session.commit()
    return user


def set_approver(session: Session, user_id: int, can_approve: bool, actor: str) -> User:
    """Make an account an approver (it may approve others' updates) or not; audited. An approver writes too,
    so a viewer cannot be one; an admin is not one unless made one (approving is the incident's call, not IT's)."""
    user = _account(session, user_id)
    if user.can_approve == can_approve:
        return user
    if can_approve and user.role not in ("author", "admin"):
        raise ValidationError({"can_approve": f"{user.username} is a viewer: make them an author first, then an "
                                              "approver."})
    user.can_approve = can_approve
    audit.record(session, actor=actor, action="user_changed", outcome="ok", target=user.username,
                 message="now an approver" if can_approve else "no longer an approver")
    session.commit()
    return user


def set_password(session: Session, user_id: int, password: str, actor: str) -> User:
    """Give an account a new password (a lost one-time password, a forgotten one); audited, never logged. Every
    session of the account ends."""
    user = _account(session, user_id)
    if problem := password_problem(password, user.username):
        raise ValidationError({"password": problem})
    _apply_password(session, user, password, actor)
    session.commit()
    return user


def change_own_password(session: Session, user: User, current: str, new: str) -> User:
    """A signed-in user's new password, given the current one; every session of theirs ends (sign in again)."""
    errors = {}
    if not check_password(user.password_hash, current):
        errors["current"] = "That is not your current password."
    if problem := password_problem(new, user.username):
        errors["password"] = problem
    elif new == current:
        errors["password"] = "Choose a password different from the current one."
    if errors:
        raise ValidationError(errors)
    _apply_password(session, user, new, user.username)
    session.commit()
    return user


def set_own_phone(session: Session, user: User, raw: str, policy) -> str:
    """A user's own mobile for staff texts (approval requests), as E.164 under `policy`; '' clears it. Audited
    with the number masked."""
    phone = policy.normalise(raw) if (raw or "").strip() else ""
    user.phone = phone
    audit.record(session, actor=user.username, action="account.phone", outcome="ok",
                 target=mask_phone(phone) if phone else "", message="set" if phone else "cleared")
    session.commit()
    return phone


def user_named(session: Session, username: str) -> User | None:
    """The account called `username` (any case), or None."""
    name = clean(username).strip().lower()
    return session.scalar(select(User).where(func.lower(User.username) == name)) if name else None


def authenticate(session: Session, username: str, password: str, source: str = "") -> User | None:
    """The active user with these credentials (the sign-in is audited), or None."""
    name = clean(username).strip().lower()
    user = user_named(session, name)
    valid = check_password(user.password_hash if user else _dummy_hash(), password or "")
    if not (user and user.active and valid):
        return None  # the caller counts the refusal: the audit log keeps a summary per address and minute
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)  # an older, cheaper hash: replace it while we know the password
    audit.record(session, actor=name, action="sign_in", outcome="ok", target=source)
    session.commit()
    return user


def sign_out(session: Session, username: str) -> None:
    """Record that `username` signed out."""
    audit.record(session, actor=username, action="sign_out", outcome="ok")
    session.commit()


def sign_out_everywhere(session: Session, user: User) -> int:
    """End every session of `user` (a lost phone, a shared computer); audited; returns how many ended."""
    ended = sessions.end_all(session, user.id)
    audit.record(session, actor=user.username, action="sign_out", outcome="ok",
                 message=f"everywhere{_ended(ended)}")
    session.commit()
    return ended


def all_users(session: Session) -> list[User]:
    """Every account, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def ensure_admin(session: Session, password: str | None = None) -> str | None:
    """Create the first admin if there is no account at all; return its one-time password when we made one up."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    generated = None if password else generate_password()
    create_user(session, "admin", password or generated, "admin", actor=audit.SYSTEM)
    return generated


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


def _account(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ValidationError({"user": "No such account."})
    return user


def _apply_role(session: Session, user: User, role: str, active: bool, actor: str) -> User:
    if role not in ROLES:
        raise ValidationError({"role": f"Choose one of: {', '.join(ROLES)}."})
    if (user.role, user.active) == (role, active):
        return user
    before = f"{user.role}{'' if user.active else ' (disabled)'}"
    user.role, user.active = role, active
    after = f"{role}{'' if active else ' (disabled)'}"
    # Ended even on a promotion: whoever holds an old cookie signs in again and is checked again.
    ended = sessions.end_all(session, user.id)
    audit.record(session, actor=actor, action="user_changed", outcome="ok", target=user.username,
                 message=f"{before} → {after}{_ended(ended)}")
    return user


def _apply_password(session: Session, user: User, password: str, actor: str) -> None:
    user.password_hash = hash_password(password)
    ended = sessions.end_all(session, user.id)
    audit.record(session, actor=actor, action="password_changed", outcome="ok", target=user.username,
                 message=_ended(ended).lstrip("; "))


def _ended(count: int) -> str:
    return f"; {count} session{'s' if count != 1 else ''} ended" if count else ""
