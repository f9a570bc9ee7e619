"""Accounts: hashing, the first admin, password changes."""
import pytest
from sqlalchemy import select

from crisiscast.core.domain import ValidationError
from crisiscast.services import accounts
from crisiscast.store.models import AuditEvent


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
