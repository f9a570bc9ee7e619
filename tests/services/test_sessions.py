"""Server-side sessions: started, resumed within their lifetime, ended one by one or all at once."""
from datetime import timedelta

from sqlalchemy import select

from crisiscast.services import sessions
from crisiscast.store.models import UserSession, utcnow

SHORT = sessions.Lifetime(idle=timedelta(hours=1), absolute=timedelta(hours=8))


def test_a_session_is_resumed_by_its_token_and_stores_only_a_hash(db, users):
    token = sessions.start(db, users["author"])
    assert sessions.resume(db, token, SHORT).username == "author"
    assert token not in db.scalar(select(UserSession.token_hash))
    assert sessions.resume(db, token + "x", SHORT) is None and sessions.resume(db, "", SHORT) is None


def test_the_lifetime_comes_from_the_settings(settings):
    assert sessions.Lifetime.from_settings(settings) == sessions.Lifetime(timedelta(hours=12), timedelta(hours=24))
    lifetime = sessions.Lifetime.from_settings(settings.replace(SESSION_IDLE_HOURS=0.5, SESSION_MAX_HOURS=720))
    assert lifetime == sessions.Lifetime(timedelta(minutes=30), timedelta(days=30))


def test_idle_and_absolute_expiry_at_a_configured_lifetime(db, users):
    token = sessions.start(db, users["author"])
    start = utcnow()
    # Seen every 50 minutes: idle never runs out, but the 8 h absolute lifetime does.
    for minutes in range(50, 8 * 60, 50):
        assert sessions.resume(db, token, SHORT, now=start + timedelta(minutes=minutes)) is not None
    assert sessions.resume(db, token, SHORT, now=start + timedelta(hours=8, minutes=1)) is None
    assert sessions.count(db, users["author"].id) == 0

    idle = sessions.start(db, users["author"])
    assert sessions.resume(db, idle, SHORT, now=utcnow() + timedelta(minutes=61)) is None
    assert sessions.resume(db, idle, SHORT) is None  # gone, not just late


def test_last_seen_is_written_at_most_once_a_minute(db, users):
    token = sessions.start(db, users["author"])
    seen = db.scalar(select(UserSession.last_seen_at))
    sessions.resume(db, token, SHORT, now=seen + timedelta(seconds=30))
    db.expire_all()
    assert db.scalar(select(UserSession.last_seen_at)) == seen
    sessions.resume(db, token, SHORT, now=seen + timedelta(seconds=90))
    db.expire_all()
    assert db.scalar(select(UserSession.last_seen_at)) == seen + timedelta(seconds=90)


def test_a_disabled_account_has_no_session(db, users):
    token = sessions.start(db, users["viewer"])
    users["viewer"].active = False
    db.commit()
    assert sessions.resume(db, token, SHORT) is None


def test_end_and_end_all(db, users):
    one, two = sessions.start(db, users["author"]), sessions.start(db, users["author"])
    other = sessions.start(db, users["viewer"])
    sessions.end(db, one)
    assert [sessions.resume(db, t, SHORT) is not None for t in (one, two, other)] == [False, True, True]
    assert sessions.end_all(db, users["author"].id) == 1
    db.commit()
    assert [sessions.resume(db, t, SHORT) is not None for t in (two, other)] == [False, True]
