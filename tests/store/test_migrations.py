"""Migrations build the schema the models describe, and go down and up again cleanly."""
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from crisiscast.store.db import alembic_config, make_engine, migrate
from crisiscast.store.models import Base


def test_head_matches_the_models(scratch_url):
    migrate(scratch_url)
    engine = make_engine(scratch_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diffs == []


def test_downgrade_to_base_and_up_again(scratch_url):
    migrate(scratch_url)
    command.downgrade(alembic_config(scratch_url), "base")
    migrate(scratch_url)
    engine = make_engine(scratch_url)
    with engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(scratch_url)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()


def test_0006_keeps_a_shared_sid_only_on_the_row_claimed_first(scratch_url):
    """Rows the old lookup credited with another update's message go back in doubt, to be asked about again."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import MetaData, insert, select

    from crisiscast.store.models import SmsRecipient

    command.upgrade(alembic_config(scratch_url), "0005")
    engine = make_engine(scratch_url)
    tables = MetaData()
    tables.reflect(engine)  # the tables as 0005 left them: the models name later columns
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        def add(name, **values):
            conn.execute(insert(tables.tables[name]).values({**_required(tables.tables[name], t0), **values}))

        add("users", id=1, username="a", password_hash="x", role="author")
        add("incidents", id=1, title="Drill")
        add("subscribers", id=1, phone="+15125550001")
        for n in (1, 2):
            add("updates", id=n, uid=f"u{n}", incident_id=1, er_access="open", operating_status="normal",
                headline="Same", author_id=1)
            add("deliveries", id=n, update_id=n, channel="sms", state="sent", rendering={"text": "Same"})
            add("sms_recipients", id=n, delivery_id=n, subscriber_id=1, phone="+15125550001", state="sent",
                provider_id="SM1", claimed_at=t0 + timedelta(minutes=n), updated_at=t0)
    migrate(scratch_url)
    with engine.connect() as conn:
        rows = conn.execute(select(SmsRecipient.id, SmsRecipient.state, SmsRecipient.provider_id)
                            .order_by(SmsRecipient.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "sent", "SM1"), (2, "in_doubt", None)]


def test_0008_flags_the_seeded_lists_and_gives_every_update_its_audience(scratch_url):
    """Updates already published get the audience their deliveries had: only staff-only SMS is internal."""
    from sqlalchemy import insert

    from crisiscast.store.models import Delivery, Incident

    command.upgrade(alembic_config(scratch_url), "0006")
    engine = make_engine(scratch_url)
    sent = {1: [("sms", ["staff-on-call"])], 2: [("sms", ["staff-on-call", "media"])], 3: [("x", None)],
            4: [("sms", None)], 5: [("sms", ["staff-on-call"]), ("feed", None)], 6: [("sms", ["volunteers"])],
            7: [("sms", ["night-shift"])]}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO subscriber_lists (id, name, description, joinable, created_at) VALUES "
                          "(4, 'volunteers', '', :yes, CURRENT_TIMESTAMP), (5, 'night-shift', '', :no, "
                          "CURRENT_TIMESTAMP)"), {"yes": True, "no": False})
        # Plain SQL where the table has grown since 0006: the models name columns an 0006 database lacks.
        conn.execute(text("INSERT INTO users (id, username, password_hash, role, active, created_at) "
                          "VALUES (1, 'a', 'x', 'author', :yes, CURRENT_TIMESTAMP)"), {"yes": True})
        conn.execute(insert(Incident.__table__).values(id=1, title="Drill"))
        for n, channels in sent.items():
            conn.execute(text("INSERT INTO updates (id, uid, incident_id, er_access, operating_status, headline, "
                              "body, author_id, published_at, next_update, retraction_reason) VALUES "
                              "(:n, :uid, 1, 'open', 'normal', 'Drill', '', 1, CURRENT_TIMESTAMP, '', '')"),
                         {"n": n, "uid": f"{n:012x}"})
            for channel, lists in channels:
                conn.execute(insert(Delivery.__table__).values(update_id=n, channel=channel, state="sent",
                                                               rendering={"text": "Drill"}, audience=lists))
    migrate(scratch_url)
    with engine.connect() as conn:
        audiences = dict(conn.execute(text("SELECT id, audience FROM updates")).all())
        lists = {name: (bool(public), bool(joinable)) for name, public, joinable in conn.execute(
            text("SELECT name, public, joinable FROM subscriber_lists"))}
    engine.dispose()
    assert lists == {"public": (True, True), "media": (True, False), "staff-on-call": (False, False),
                     "volunteers": (True, True), "night-shift": (False, False),
                     "drill": (False, False)}  # 0018 seeds the internal drill list
    assert audiences == {1: "internal", 2: "public", 3: "public", 4: "public", 5: "public", 6: "public",
                         7: "internal"}


def _required(table, now) -> dict:
    """A plain value for each NOT NULL column with no server default, so a test row names only what matters."""
    from sqlalchemy import JSON, Boolean, DateTime, Integer

    def plain(column):
        kind = column.type
        return now if isinstance(kind, DateTime) else 0 if isinstance(kind, Integer) else \
            False if isinstance(kind, Boolean) else {} if isinstance(kind, JSON) else ""
    return {c.name: plain(c) for c in table.columns
            if not c.nullable and c.server_default is None and not c.primary_key}


def test_a_batch_migration_on_sqlite_keeps_rows_that_other_tables_refer_to(scratch_url):
    """SQLite rebuilds a table to alter it; with rows pointing at it, that must still work (and keep them)."""
    if not scratch_url.startswith("sqlite"):
        return
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import Column, String, text

    migrate(scratch_url)
    engine = make_engine(scratch_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, password_hash, role, active, created_at) "
                          "VALUES (1, 'a', 'x', 'author', 1, '2026-01-01')"))
        conn.execute(text("INSERT INTO incidents (id, title, created_at) VALUES (1, 'Drill', '2026-01-01')"))
        conn.execute(text("INSERT INTO updates (id, uid, incident_id, er_access, operating_status, headline, body, "
                          "author_id, published_at, next_update, retraction_reason) VALUES "
                          "(1, 'u1', 1, 'open', 'normal', 'H', '', 1, '2026-01-01', '', '')"))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # what migrations/env.py does before a migration
        conn.commit()
        with conn.begin():
            with Operations(MigrationContext.configure(conn)).batch_alter_table("users") as batch:
                batch.add_column(Column("note", String(10), server_default=""))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT author_id FROM updates")).scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").first() is None
    engine.dispose()


def test_0011_backfills_consent_for_every_subscriber_but_a_number_that_only_said_stop(scratch_url):
    from datetime import datetime, timezone

    from sqlalchemy import insert, select

    from crisiscast.store.models import Subscriber

    before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision("0011").down_revision
    command.upgrade(alembic_config(scratch_url), before)
    engine = make_engine(scratch_url)
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        for n, active, opt_out in ((1, False, "stop"), (2, True, None), (3, False, "staff"), (4, False, "stop")):
            conn.execute(insert(Subscriber.__table__).values(
                id=n, phone=f"+1512555000{n}", name="", active=active, opt_out=opt_out, created_at=created))
        # Number 1 subscribed, then said STOP: it had consented. Number 4 only ever said STOP.
        conn.execute(text("INSERT INTO subscriptions (subscriber_id, list_id, created_at) SELECT 1, id, :at "
                          "FROM subscriber_lists WHERE name = 'public'"), {"at": created})
    migrate(scratch_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Subscriber.id, Subscriber.consent_source, Subscriber.consented_at)
                            .order_by(Subscriber.id)).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [(1, "legacy"), (2, "legacy"), (3, "legacy"), (4, None)]
    assert rows[1][2] == created
