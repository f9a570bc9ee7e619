"""Accounts: hashing, the password policy, the first admin, password and role changes."""
import hashlib

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from crisiscast.core.domain import ValidationError
from crisiscast.core.passwords import check_password, hash_password
from crisiscast.services import accounts, sessions
from crisiscast.store.models import AuditEvent, User
from tests.conftest import PASSWORD


def test_passwords_are_hashed_with_a_salt():
    first, second = hash_password("s3cret pass"), hash_password("s3cret pass")
    assert first != second and "s3cret" not in first
    assert check_password(first, "s3cret pass") and not check_password(first, "s3cret pasS")
    assert not check_password("garbage", "s3cret pass") and not check_password("pbkdf2:sha256:1$a$b", "x")


def test_the_hash_costs_at_least_werkzeugs_default_and_werkzeug_reads_it():
    ours, theirs = hash_password(PASSWORD), generate_password_hash(PASSWORD)
    cost = [int(v) for v in ours.split("$")[0].split(":")[1:]]
    assert ours.startswith("scrypt:") and cost >= [int(v) for v in theirs.split("$")[0].split(":")[1:]]
    assert check_password_hash(ours, PASSWORD) and check_password(theirs, PASSWORD)


def legacy_hash(password: str) -> str:
    """The first format crisiscast wrote: scrypt$n$r$p$salt$hash with n = 2**14."""
    salt = bytes(range(16))
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def test_an_old_hash_still_signs_in_and_is_replaced_by_the_current_one(db, users):
    users["author"].password_hash = legacy_hash(PASSWORD)
    db.commit()
    assert accounts.authenticate(db, "author", "wrong password") is None
    assert db.get(User, users["author"].id).password_hash.startswith("scrypt$16384$")  # only a right password
    assert accounts.authenticate(db, "author", PASSWORD) is not None
    db.expire_all()
    rehashed = db.get(User, users["author"].id).password_hash
    assert rehashed.startswith("scrypt:32768:8:1$") and check_password_hash(rehashed, PASSWORD)
    assert accounts.authenticate(db, "author", PASSWORD) is not None


@pytest.mark.parametrize("password, message", [
    ("", "Use at least 12 characters."),
    ("eleven char", "Use at least 12 characters."),
    ("x" * 201, "Use at most 200 characters."),
    ("nurse.lee in ward 3", "The password must not contain the username."),
    ("NURSE.LEE!2024", "The password must not contain the username."),
    ("password1234", "This password is too easy to guess."),
    ("qwertyuiop123", "This password is too easy to guess."),
    ("aaaaaaaaaaaaaaaa", "This password is too easy to guess."),
])
def test_a_short_weak_or_username_password_is_refused_with_a_reason(db, password, message):
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(db, "nurse.lee", password, "author", actor="admin")
    assert exc.value.errors["password"].startswith(message)
    assert db.scalar(select(User)) is None


def test_a_long_random_or_many_word_password_is_accepted(db):
    for n, password in enumerate((PASSWORD, accounts.generate_password(), "Ward 3 kettle is always broken")):
        accounts.create_user(db, f"nurse{n}", password, "author", actor="admin")


def test_first_admin_is_created_once_with_a_printed_password(db):
    password = accounts.ensure_admin(db)
    assert password and len(password) >= 12
    assert accounts.authenticate(db, "admin", password).role == "admin"
    assert accounts.ensure_admin(db) is None


def test_first_admin_password_can_come_from_the_environment(db):
    assert accounts.ensure_admin(db, "from the environment") is None
    assert accounts.authenticate(db, "ADMIN", "from the environment") is not None


def test_password_change_is_audited_without_the_password(db, users):
    accounts.set_password(db, users["author"].id, "a brand new password", actor="admin")
    assert accounts.authenticate(db, "author", "a brand new password") is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "password_changed"))
    assert (event.actor, event.target, event.message) == ("admin", "author", "")
    for weak in ("short", "author author author", "password1234"):
        with pytest.raises(ValidationError):
            accounts.set_password(db, users["author"].id, weak, actor="admin")


@pytest.mark.parametrize("role, active", [("viewer", True), ("author", True), ("admin", False)])
def test_an_admin_cannot_demote_or_switch_off_themself(db, users, role, active):
    admin = users["admin"]
    with pytest.raises(ValidationError) as exc:
        accounts.change_account(db, admin.id, role, active, actor=admin, password="a brand new password")
    assert exc.value.errors == {"role": "You cannot take away your own admin rights; ask another admin."}
    db.expire_all()
    assert (admin.role, admin.active) == ("admin", True)
    assert accounts.authenticate(db, "admin", "a brand new password") is None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action.in_(("user_changed", "password_changed")))) is None


def test_an_admin_changes_another_account_and_its_password(db, users):
    changed = accounts.change_account(db, users["viewer"].id, "author", False, actor=users["admin"],
                                      password="a brand new password")
    assert (changed.role, changed.active) == ("author", False)
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.actor == "admin")).all()
    assert actions == ["user_changed", "password_changed"]
    # Switched off: the right password no longer lets it in.
    assert accounts.authenticate(db, "viewer", "a brand new password") is None


def test_an_admin_may_keep_their_own_role_and_change_their_password(db, users):
    accounts.change_account(db, users["admin"].id, "admin", True, actor=users["admin"],
                            password="a brand new password")
    assert accounts.authenticate(db, "admin", "a brand new password") is not None


def test_all_users_are_listed_by_name(db, users):
    assert [u.username for u in accounts.all_users(db)] == ["admin", "author", "viewer"]


def test_sign_out_is_audited(db, users):
    accounts.sign_out(db, "author")
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "sign_out"))
    assert (event.actor, event.outcome) == ("author", "ok")


def test_a_rejected_password_changes_neither_role_nor_access(db, users):
    viewer = users["viewer"]
    token = sessions.start(db, viewer)
    with pytest.raises(ValidationError) as exc:
        accounts.change_account(db, viewer.id, "admin", False, actor=users["admin"], password="too weak")
    assert exc.value.errors == {"password": "Use at least 12 characters."}
    db.expire_all()
    assert (viewer.role, viewer.active) == ("viewer", True)
    assert accounts.authenticate(db, "viewer", PASSWORD) is not None
    assert sessions.count(db, viewer.id) == 1 and token
    assert db.scalar(select(AuditEvent).where(AuditEvent.action.in_(("user_changed", "password_changed")))) is None


def test_an_unknown_role_changes_nothing_either(db, users):
    with pytest.raises(ValidationError):
        accounts.change_account(db, users["viewer"].id, "root", True, actor=users["admin"],
                                password="amber kettle violin")
    db.expire_all()
    assert accounts.authenticate(db, "viewer", PASSWORD).role == "viewer"


def test_saving_an_account_unchanged_keeps_its_sessions_and_writes_nothing(db, users):
    sessions.start(db, users["viewer"])
    accounts.change_account(db, users["viewer"].id, "viewer", True, actor=users["admin"])
    assert sessions.count(db, users["viewer"].id) == 1
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "user_changed")) is None


def test_changes_that_end_sessions_say_how_many_in_the_audit_log(db, users):
    for _ in range(2):
        sessions.start(db, users["viewer"])
    accounts.set_role(db, users["viewer"].id, "author", True, actor="admin")
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "user_changed"))
    assert event.message == "viewer → author; 2 sessions ended"
    assert sessions.count(db, users["viewer"].id) == 0


def test_changing_my_own_password_needs_the_current_one(db, users):
    author = users["author"]
    with pytest.raises(ValidationError) as exc:
        accounts.change_own_password(db, author, "wrong", "author")
    assert exc.value.errors == {"current": "That is not your current password.",
                                "password": "Use at least 12 characters."}
    accounts.change_own_password(db, author, PASSWORD, "amber kettle violin")
    assert accounts.authenticate(db, "author", "amber kettle violin") is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "password_changed"))
    assert (event.actor, event.target) == ("author", "author")
