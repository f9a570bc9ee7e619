"""Migrations build the schema the models describe, and go down and up again cleanly."""
import os

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from crisiscast.db import alembic_config, make_engine, migrate
from crisiscast.models import Base


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of the kind the suite runs on."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS crisiscast_migrations"))
        conn.execute(text("CREATE DATABASE crisiscast_migrations"))
    yield url.rsplit("/", 1)[0] + "/crisiscast_migrations"
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS crisiscast_migrations WITH (FORCE)"))
    admin.dispose()


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
