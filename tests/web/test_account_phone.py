"""A member of staff's own mobile, for the texts crisiscast sends them (approval requests)."""
from sqlalchemy import select

from crisiscast.store.models import AuditEvent, User
from tests.conftest import csrf_token


def save(client, phone: str):
    return client.post("/account/phone", data={"phone": phone, "csrf_token": csrf_token(client, "/account")})


def test_a_user_saves_their_mobile_as_e164_and_the_audit_log_masks_it(client, auth, db):
    auth.login("author")
    assert save(client, "(512) 555-1267").status_code == 302
    db.expire_all()
    assert db.scalar(select(User.phone).where(User.username == "author")) == "+15125551267"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "account.phone"))
    assert event.target == "+1 ••••••••67" and "5551267" not in event.message
    assert 'value="+15125551267"' in client.get("/account").get_data(as_text=True)


def test_a_bad_or_foreign_number_is_refused_and_kept_as_typed(client, auth, db):
    auth.login("author")
    for typed in ("555-CALL-NOW", "+44 20 7946 0018"):
        response = save(client, typed)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and 'class="field-error"' in page and f'value="{typed}"' in page
    db.expire_all()
    assert db.scalar(select(User.phone).where(User.username == "author")) == ""


def test_an_empty_number_removes_it(client, auth, db):
    auth.login("viewer")
    save(client, "+15125551267")
    assert save(client, "  ").status_code == 302
    db.expire_all()
    assert db.scalar(select(User.phone).where(User.username == "viewer")) == ""
