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


def _required(table, now) -> dict:
    """A plain value for each NOT NULL column with no server default, so a test row names only what matters."""
    from sqlalchemy import JSON, Boolean, DateTime, Integer

    def plain(column):
        kind = column.type
        return now if isinstance(kind, DateTime) else 0 if isinstance(kind, Integer) else \
            False if isinstance(kind, Boolean) else {} if isinstance(kind, JSON) else ""
    return {c.name: plain(c) for c in table.columns
            if not c.nullable and c.server_default is None and not c.primary_key}
