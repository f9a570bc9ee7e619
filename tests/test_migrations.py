"""Migrations build the schema the models describe, and go down and up again cleanly."""
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from crisiscast.db import alembic_config, make_engine, migrate
from crisiscast.models import Base

from . import scratch_database


@pytest.fixture
def scratch_url(postgres_server, tmp_path):
    """An empty database of the kind the suite runs on (on PostgreSQL, a scratch database of this run)."""
    if not postgres_server:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    url = scratch_database.create(postgres_server, tag="mig")
    yield url
    scratch_database.drop(postgres_server, url)


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
