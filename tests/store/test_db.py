"""The engine: SQLite files readable by their owner only, whatever the umask; a failing statement's error (which
reaches the server log) carries no bound parameters."""
import logging
import os
import sqlite3
import stat
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crisiscast.store.db import make_engine, migrate
from crisiscast.store.models import SmsRecipient


@pytest.fixture
def shared_umask():
    """A typical umask that lets other local users read new files; the files must be private anyway."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_are_owner_only(tmp_path, shared_umask):
    path = tmp_path / "instance" / "crisiscast.db"
    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:  # held open, so the -wal and -shm files are there to look at
        connection.execute(text("CREATE TABLE t (x)"))
        connection.commit()
        assert {name: mode(tmp_path / "instance" / name) for name in os.listdir(tmp_path / "instance")} == {
            "crisiscast.db": 0o600, "crisiscast.db-wal": 0o600, "crisiscast.db-shm": 0o600}
    engine.dispose()


def test_an_older_install_s_readable_database_files_are_made_owner_only(tmp_path, shared_umask):
    path = tmp_path / "crisiscast.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x)"))
        connection.commit()
    engine.dispose()
    for name in ("crisiscast.db", "crisiscast.db-wal"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)  # as SQLite left them before
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600 and mode(tmp_path / "crisiscast.db-wal") == 0o600


def test_an_in_memory_database_needs_no_file(tmp_path):
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_making_an_engine_keeps_the_locks_of_connections_open_on_the_same_file(tmp_path):
    """Closing any descriptor of a file drops this process's POSIX locks on it: the database is never opened."""
    path = tmp_path / "crisiscast.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # a write lock, as a worker mid-transaction holds
    make_engine(f"sqlite:///{path}").dispose()
    other = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0, "
                            "isolation_level=None); c.execute('BEGIN IMMEDIATE')", str(path)],
                           capture_output=True, text=True, timeout=60)
    holder.rollback()
    holder.close()
    assert other.returncode != 0 and "database is locked" in other.stderr


def test_a_failing_statement_shows_no_phone_number(db, caplog):
    # A recipient of a delivery that does not exist: refused by the foreign key on both databases, with the
    # phone number only among the bound parameters (PostgreSQL's own DETAIL names the missing key, not it).
    db.add(SmsRecipient(delivery_id=999_999, subscriber_id=999_999, phone="+15125550187", state="pending"))
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrityError) as raised:
        db.commit()
    db.rollback()
    shown = str(raised.value) + repr(raised.value) + caplog.text
    assert "sms_recipients" in shown  # the statement is still named, so the log says what failed
    assert "5125550187" not in shown
    assert "hidden due to hide_parameters" in str(raised.value)
