"""The suite's scratch PostgreSQL databases: its own, never the one DATABASE_URL names; dead runs' cleaned up."""
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crisiscast.store.db import make_engine
from tests.support import scratch_database


@pytest.fixture
def server(postgres_server):
    if not postgres_server:
        pytest.skip("PostgreSQL only (DATABASE_URL=postgresql://…); on SQLite every test has its own file")
    return postgres_server


def databases(server) -> set[str]:
    engine = make_engine(server)
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT datname FROM pg_database")))
    engine.dispose()
    return names


def test_the_suite_runs_on_a_database_of_its_own(server, database_url):
    name = make_url(database_url).database
    assert name != make_url(server).database and scratch_database.SCRATCH.search(name)
    assert f"_{os.getpid()}_" in name


def test_only_scratch_databases_of_dead_runs_on_this_host_are_dropped(server):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    base = make_url(server).database[:16]
    dead = f"{base}{scratch_database.MARK}{scratch_database.HOST}_{gone.pid}_abcdef"
    other_host = f"{base}{scratch_database.MARK}000000_{gone.pid}_abcdef"
    mine = scratch_database.create(server, tag="live")
    for name in (dead, other_host):
        scratch_database._admin(server, f'CREATE DATABASE "{name}"')
    try:
        assert dead in scratch_database.drop_stale(server)
        left = databases(server)
        assert dead not in left and other_host in left and make_url(mine).database in left
        assert make_url(server).database in left
    finally:
        scratch_database.drop(server, mine)
        scratch_database._admin(server, f'DROP DATABASE IF EXISTS "{other_host}"')


def test_a_database_it_did_not_create_is_never_dropped(server):
    with pytest.raises(ValueError, match="is not a scratch database"):
        scratch_database.drop(server, server)
