"""Accounts: hashing, the first admin, password changes."""
import pytest
from sqlalchemy import select

from crisiscast.core.domain import ValidationError
from crisiscast.services import accounts
from crisiscast.store.models import AuditEvent
from tests.conftest import PASSWORD


def test_passwords_are_hashed_with_a_salt():
    first, second = accounts.hash_password("s3cret pass"), accounts.hash_password("s3cret pass")
    assert first != second and "s3cret" not in first
    assert accounts.check_password(first, "s3cret pass") and not accounts.check_password(first, "s3cret pasS")
    assert not accounts.check_password("garbage", "s3cret pass")


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
    with pytest.raises(ValidationError):
        accounts.set_password(db, users["author"].id, "short", actor="admin")


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


def test_a_username_with_an_invisible_control_character_signs_in_and_is_audited_clean(db, users):
    assert accounts.authenticate(db, "author\x01", PASSWORD) is not None
    assert db.scalars(select(AuditEvent.actor).where(AuditEvent.action == "sign_in")).all()[-1] == "author"
    created = accounts.create_user(db, "jane\x00", PASSWORD, "viewer", actor="admin")
    assert created.username == "jane"
