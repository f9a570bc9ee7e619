"""Scratch PostgreSQL databases: the suite creates its own beside the one DATABASE_URL names, and never touches that one.

A scratch database is named `<name>_crisiscast_test_<host>_<pid>_<random>`: the host and process id of the run
that made it, so a later run can drop those of runs that died (same host, process gone) and leave alone those
of runs still going, here or on another machine.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket

from sqlalchemy import text
from sqlalchemy.engine import make_url

from crisiscast.store.db import make_engine

MARK = "_crisiscast_test_"
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
SCRATCH = re.compile(rf"{MARK}(?P<host>[0-9a-f]{{6}})_(?P<pid>\d+)_[0-9a-f]{{6}}(_[a-z]+)?$")


def create(server_url: str, tag: str = "") -> str:
    """A new empty database on `server_url`'s server, named for this run; its URL."""
    base = make_url(server_url).database or "postgres"
    # PostgreSQL cuts names at 63 bytes: keep the part that identifies the run whole.
    name = f"{base[:16]}{MARK}{HOST}_{os.getpid()}_{secrets.token_hex(3)}" + (f"_{tag}" if tag else "")
    _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop(server_url: str, scratch_url: str) -> None:
    """Drop the scratch database `scratch_url` names (refuses any other) from `server_url`'s server."""
    name = make_url(scratch_url).database or ""
    if not SCRATCH.search(name):
        raise ValueError(f"{name!r} is not a scratch database of the test suite")
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_stale(server_url: str) -> list[str]:
    """Drop the scratch databases that runs on this host left behind when they died; their names."""
    engine = make_engine(server_url)
    try:
        with engine.connect() as conn:
            names = conn.scalars(text("SELECT datname FROM pg_database")).all()
    finally:
        engine.dispose()
    stale = [n for n in names if _is_stale(n)]
    for name in stale:
        drop(server_url, make_url(server_url).set(database=name).render_as_string(hide_password=False))
    return stale


def _is_stale(name: str) -> bool:
    found = SCRATCH.search(name)
    if not found or found["host"] != HOST:
        return False
    try:
        os.kill(int(found["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _admin(server_url: str, statement: str) -> None:
    """Run a CREATE or DROP DATABASE from a connection to the database the user named (it only connects)."""
    engine = make_engine(server_url)
    try:
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
