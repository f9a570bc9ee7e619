"""an update's SMS supersedes the unsent texts of earlier updates of its incident, unless its author said not to

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite can): a batch copy of `updates` would have to drop a table others refer to.
    op.add_column("updates", sa.Column("supersede_earlier", sa.Boolean(), nullable=False,
                                       server_default=sa.text("true")))


def downgrade() -> None:
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_column("supersede_earlier")
