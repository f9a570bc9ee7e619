"""Sign-in throttling: refused with 429 and Retry-After before the password is hashed, per username and per address;
refused requests reach the audit log as counted summaries, not one row each."""
import hashlib
import logging
import re
import socket
import threading
import time

import pytest
from sqlalchemy import select

from crisiscast.runtime import Runtime
from crisiscast.store.models import AuditEvent
from crisiscast.web import create_app
from tests.conftest import PASSWORD, AuthActions, csrf_token
from tests.support.faultkit import wait_until


@pytest.fixture
def scrypt_calls(monkeypatch):
    """Counts password hashes (hashlib.scrypt, which our hashing and Werkzeug's both call); still hashes."""
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def sign_in(client, username, password="wrong password", address="127.0.0.1", token=None):
    token = token or csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_fifty_wrong_passwords_are_mostly_refused_before_hashing(client, users, scrypt_calls):
    token = csrf_token(client, "/login")
    statuses = [sign_in(client, "author", token=token).status_code for _ in range(50)]
    assert statuses == [200] * 5 + [429] * 45  # SIGN_IN_LIMIT_PER_USERNAME: 5/minute
    assert len(scrypt_calls) == 5


def test_the_429_says_when_to_try_again_and_sends_retry_after(client, users):
    token = csrf_token(client, "/login")
    for _ in range(5):
        sign_in(client, "author", token=token)
    refused = sign_in(client, "author", token=token)
    seconds = int(refused.headers["Retry-After"])
    assert refused.status_code == 429 and 1 <= seconds <= 60
    assert f"Try again in {seconds} s." in refused.get_data(as_text=True)


def test_the_username_limit_holds_across_addresses_and_spares_other_accounts(client, users):
    token = csrf_token(client, "/login")
    statuses = [sign_in(client, " Author ", address=f"203.0.113.{n}", token=token).status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
    assert sign_in(client, "author", PASSWORD, address="198.51.100.1", token=token).status_code == 429
    assert sign_in(client, "viewer", PASSWORD, address="203.0.113.1", token=token).status_code == 302


def test_the_address_limit_holds_across_usernames_and_spares_other_addresses(client, users):
    token = csrf_token(client, "/login")
    statuses = [sign_in(client, f"guess{n}", address="203.0.113.9", token=token).status_code for n in range(21)]
    assert statuses == [200] * 20 + [429]  # SIGN_IN_LIMIT_PER_IP: 20/minute
    assert sign_in(client, "author", PASSWORD, address="203.0.113.9", token=token).status_code == 429
    assert sign_in(client, "author", PASSWORD, address="198.51.100.1", token=token).status_code == 302


def test_successful_sign_ins_do_not_count(client, users):
    """Staff behind one hospital address all signing in at the start of an incident are not throttled."""
    for _ in range(25):
        assert sign_in(client, "author", PASSWORD).status_code == 302


def test_limits_come_from_the_settings(settings, runtime, users):
    app = create_app(settings.replace(SIGN_IN_LIMIT_PER_USERNAME="2/minute"), runtime)
    client = app.test_client()
    token = csrf_token(client, "/login")
    assert [sign_in(client, "author", token=token).status_code for _ in range(3)] == [200, 200, 429]


def test_signed_in_staff_keep_working_during_a_sign_in_flood(app, client, auth, scrypt_calls):
    auth.login("author")
    stop = threading.Event()
    refused = []

    def flood(n):
        attacker = app.test_client()
        token = csrf_token(attacker, "/login")
        while not stop.is_set():
            refused.append(sign_in(attacker, "admin", address=f"203.0.113.{n}", token=token).status_code == 429)

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: sum(refused) >= 50, timeout=60, what="the flood to be refused")
        pages = [client.get(path).status_code for path in ("/", "/audit", "/subscribers/") * 3]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert pages == [200] * 9
    # At most the limit plus one attempt in flight per thread is hashed: the rest never reach scrypt.
    assert len(scrypt_calls) <= 5 + 16 + 1 < len(refused)


def test_without_redis_sign_in_works_and_is_throttled_per_process(settings, sandbox_client, users, caplog):
    with socket.socket() as probe:  # a port nothing listens on: Redis is down
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    runtime = Runtime(settings.replace(REDIS_URL=dead))
    try:
        client = create_app(runtime.settings, runtime).test_client()
        with caplog.at_level(logging.WARNING):
            assert AuthActions(client).login("admin").status_code == 302
        assert "Rate limit storage unreachable" in caplog.text
        token = csrf_token(client, "/login")
        assert [sign_in(client, "author", token=token).status_code for _ in range(6)] == [200] * 5 + [429]
    finally:
        runtime.close()


def test_failed_sign_ins_are_summarised_not_audited_one_by_one(client, users, runtime, db):
    token = csrf_token(client, "/login")
    for _ in range(8):
        sign_in(client, "author", address="203.0.113.9", token=token)
    assert db.scalars(select(AuditEvent).where(AuditEvent.outcome == "refused")).all() == []
    runtime.refusals().flush(runtime.sessions, now=_next_minute())
    (event,) = db.scalars(select(AuditEvent).where(AuditEvent.outcome == "refused")).all()
    assert (event.action, event.target) == ("sign_in", "203.0.113.9")
    assert re.match(r"8 refused sign-ins from 203\.0\.113\.9 in the minute from .* UTC \(3 throttled\); tried: author$",
                    event.message)


def test_three_hundred_unsigned_webhook_requests_make_at_most_two_audit_entries(client, runtime, db):
    for _ in range(300):
        assert client.post("/webhooks/twilio/sms", data={"From": "+15125551267", "Body": "STOP"},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    runtime.refusals().flush(runtime.sessions, now=_next_minute())
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "webhook_refused")).all()
    assert 1 <= len(events) <= 2  # the requests may straddle a minute
    assert sum(int(e.message.split()[0]) for e in events) == 300
    assert {e.target for e in events} == {"203.0.113.9"}


def _next_minute() -> float:
    """A time after the current minute, when its summary is due."""
    return time.time() + 60
