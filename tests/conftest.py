"""Fixtures: real Redis (private unless REDIS_URL), a real database (SQLite unless DATABASE_URL), the sandbox."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
import uuid

import pytest
import redis
import requests
from sqlalchemy import inspect, select, text

import config
from crisiscast import jobs
from crisiscast.core.domain import DeliveryState, Draft
from crisiscast.runtime import Runtime
from crisiscast.sandbox import RunningSandbox, product_settings
from crisiscast.sandbox.state import Settings as SandboxSettings
from crisiscast.services import accounts, publishing
from crisiscast.store.db import make_engine, migrate
from crisiscast.store.models import Delivery, Subscriber, SubscriberList, Update
from crisiscast.web import create_app
from dev.redis_server import PrivateRedis
from tests.support import scratch_database

PASSWORD = "correct horse battery"
STARTER_TEMPLATES = 9  # migration 0014 seeds them; tests change only templates of their own
DRAFT = Draft(incident="Drill", er_access="open", operating_status="normal", headline="Drill", channels=("feed",))


@pytest.fixture(scope="session")
def redis_url():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = PrivateRedis()
    yield server.url
    server.stop()


@pytest.fixture
def private_redis():
    """A Redis client on a redis-server of this test's own: the only kind a test may flush or count keys on."""
    server = PrivateRedis()
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()
    server.stop()


@pytest.fixture(scope="session")
def sandbox():
    quiet = SandboxSettings()
    quiet.update({"status_callbacks": False})  # tests of receipts turn them on
    running = RunningSandbox(settings=quiet)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """The PostgreSQL URL DATABASE_URL names, or None: the suite only creates scratch databases beside it."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def migrated_database(postgres_server, tmp_path_factory):
    """A migrated database: on PostgreSQL a scratch database of this run; on SQLite a template file to copy."""
    if postgres_server:
        scratch_database.drop_stale(postgres_server)
        url = scratch_database.create(postgres_server)
        try:
            migrate(url)
            _SEEDED.update(_seeded_rows(url))
            yield url
        finally:
            scratch_database.drop(postgres_server, url)
        return
    path = tmp_path_factory.mktemp("db") / "template.db"
    migrate(f"sqlite:///{path}")
    yield path


@pytest.fixture
def scratch_url(postgres_server, tmp_path):
    """An empty database of the kind the suite runs on (on PostgreSQL, a scratch database of this run)."""
    if not postgres_server:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    url = scratch_database.create(postgres_server, tag="mig")
    yield url
    scratch_database.drop(postgres_server, url)


@pytest.fixture
def database_url(migrated_database, tmp_path):
    if isinstance(migrated_database, str):
        engine = make_engine(migrated_database)
        # The lists and templates the migrations seed are reference data: keep them, drop any a test made.
        seeded = {"subscriber_lists": 4, "message_templates": STARTER_TEMPLATES}
        tables = [t for t in inspect(engine).get_table_names() if t not in ("alembic_version", *seeded)]
        with engine.begin() as conn:
            # The audit log refuses TRUNCATE (migration 0010). The suite's login made the scratch database, so it
            # owns the tables and may switch the guard off, in this transaction only (DDL is transactional).
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate"))
            for table, kept in seeded.items():
                conn.execute(text(f"DELETE FROM {table} WHERE id > {kept}"))
            _restore_seeded(conn)
        engine.dispose()
        return migrated_database
    path = tmp_path / "crisiscast.db"
    shutil.copy(migrated_database, path)
    return f"sqlite:///{path}"


# The rows the migrations seed (lists, starter templates), as migrated: a test (the fuzzer, as admin) may change
# or delete them, and on PostgreSQL the next test would otherwise inherit that.
_SEEDED: dict[str, list[dict]] = {}


def _seeded_rows(url: str) -> dict[str, list[dict]]:
    from sqlalchemy import MetaData

    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine, only=["subscriber_lists", "message_templates"])
    with engine.connect() as conn:
        rows = {name: [dict(r) for r in conn.execute(table.select()).mappings()] for name, table in tables.tables.items()}
    engine.dispose()
    return rows


def _restore_seeded(conn) -> None:
    from sqlalchemy import MetaData
    from sqlalchemy.dialects.postgresql import insert

    tables = MetaData()
    tables.reflect(conn, only=list(_SEEDED))
    for name, rows in _SEEDED.items():
        for row in rows:
            conn.execute(insert(tables.tables[name]).values(row).on_conflict_do_update(index_elements=["id"], set_=row))


@pytest.fixture
def settings(database_url, redis_url, sandbox, tmp_path):
    return config.load("testing", environ={}, instance=tmp_path / "instance", DATABASE_URL=database_url,
                       REDIS_URL=redis_url, QUEUE_NAME=f"test-{uuid.uuid4().hex[:8]}", SECRET_KEY="test-secret",
                       ORG_NAME="Scott & White", PHI_ALLOWED_CONTACTS="(254) 724-2111, @sw.org",
                       **product_settings(sandbox.url))


@pytest.fixture
def sandbox_client(sandbox):
    """The sandbox's control API, reset before each test."""
    client = SandboxControl(sandbox.url)
    client.reset()
    return client


class SandboxControl:
    """Configure the sandbox and read what it accepted, over its HTTP control API."""

    def __init__(self, url: str):
        self.url = url

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=5).raise_for_status()

    def configure(self, **settings) -> dict:
        response = requests.post(f"{self.url}/_sandbox/config", json=settings, timeout=5)
        response.raise_for_status()
        return response.json()

    def accepted(self, provider: str | None = None) -> list[dict]:
        params = {"provider": provider} if provider else {}
        return requests.get(f"{self.url}/_sandbox/requests", params=params, timeout=5).json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=5).json()


@pytest.fixture
def runtime(settings, sandbox_client):
    rt = Runtime(settings)
    jobs.install(rt)
    yield rt
    jobs.install(None)
    rt.close()


@pytest.fixture
def queue(settings):
    q = jobs.make_queue(settings)
    yield q
    q.empty()


@pytest.fixture
def drain(runtime, queue):
    """Run a real RQ worker (burst, with its scheduler) until every delivery is final."""

    def run(timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            jobs.make_worker([queue], queue.connection).work(burst=True, with_scheduler=True,
                                                                    logging_level="WARNING")
            with runtime.sessions() as session:
                moving = session.scalars(select(Delivery).where(Delivery.state.not_in(DeliveryState.FINAL))).all()
            if not moving:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"deliveries still moving after {timeout}s: {[(d.channel, d.state) for d in moving]}")
            time.sleep(0.2)

    return run


@pytest.fixture
def db(runtime):
    with runtime.sessions() as session:
        yield session


@pytest.fixture
def subscribe(db):
    """Add active subscribers on `lists` (default public); returns them."""

    def add(*phones, lists=("public",), active=True):
        on = db.scalars(select(SubscriberList).where(SubscriberList.name.in_(lists))).all()
        added = [Subscriber(phone=phone, active=active, lists=list(on)) for phone in phones]
        db.add_all(added)
        db.commit()
        return added

    return add


@pytest.fixture
def publish(db, runtime, users, queue):
    """Publish `draft` (default: a feed-only drill) with `changes` to its fields, as the author; return the update.

    Its deliveries go on the test queue, or nowhere with `queued=False` (for a test that sends them itself);
    `on` publishes through another Runtime's settings and channels.
    """

    def run(draft: Draft | None = None, *, queued: bool = True, on: Runtime | None = None, **changes) -> Update:
        used = on or runtime
        enqueue = (lambda i, c: jobs.enqueue_delivery(queue, i, c)) if queued else (lambda *a: None)
        result = publishing.publish(db, dataclasses.replace(draft or DRAFT, **changes), uid=publishing.new_uid(),
                                    author=users["author"], settings=used.settings, channels=used.channels,
                                    enqueue=enqueue)
        return result.update

    return run


@pytest.fixture
def users(db):
    """One account per role, all with PASSWORD."""
    return {role: accounts.create_user(db, role, PASSWORD, role, actor="test") for role in accounts.ROLES}


@pytest.fixture
def app(settings, runtime):
    application = create_app(settings, runtime)
    yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign in and out through the real form, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def login(self, username: str = "author", password: str = PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": csrf_token(self.client, "/login")})

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": csrf_token(self.client, "/")})


@pytest.fixture
def auth(client, users):
    return AuthActions(client)


def csrf_token(client, path: str) -> str:
    """The CSRF token of the form at `path`."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)
