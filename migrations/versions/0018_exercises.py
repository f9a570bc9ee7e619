"""exercises (drills): updates.exercise and updates.composed_at, and an internal `drill` list of staff numbers

An exercise goes by SMS only to lists that are not public; the `drill` list (internal, not joinable) is where a
hospital puts the staff numbers that take part. `composed_at` is when its author started writing it (the draft's
first autosave), the first line of the drill report.

Revision ID: 0018
Revises: 0017
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite can): a batch copy of `updates` would have to drop a table others refer to.
    op.add_column("updates", sa.Column("exercise", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.add_column("updates", sa.Column("composed_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM subscriber_lists WHERE name = 'drill'")):
        return
    # An explicit id past the highest: lists added by hand with explicit ids may have left the sequence behind.
    next_id = bind.scalar(sa.text("SELECT COALESCE(MAX(id), 0) + 1 FROM subscriber_lists"))
    lists = sa.table("subscriber_lists", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("description", sa.String), sa.column("joinable", sa.Boolean),
                     sa.column("public", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)))
    op.bulk_insert(lists, [{"id": next_id, "name": "drill", "joinable": False, "public": False,
                            "description": "Staff numbers that take part in exercises (drills)",
                            "created_at": datetime.now(timezone.utc)}])
    if bind.dialect.name == "postgresql":
        op.execute(sa.text("SELECT setval('subscriber_lists_id_seq', (SELECT MAX(id) FROM subscriber_lists))"))


def downgrade() -> None:
    # The drill list stays: it may have members, and a list is harmless to an older version.
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_column("composed_at")
        batch_op.drop_column("exercise")
