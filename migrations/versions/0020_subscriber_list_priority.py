"""subscriber lists carry a send order: a long SMS fan-out reaches a lower-numbered list first

`priority` 1 goes before 2; a number on several lists of one update is sent once, at its best (lowest)
priority. The seeded lists: staff-on-call (who must act) before media before public.

Revision ID: 0020
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

SEEDED = {"staff-on-call": 10, "media": 20, "public": 30}


def upgrade() -> None:
    with op.batch_alter_table("subscriber_lists") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("100")))
    for name, priority in SEEDED.items():
        op.get_bind().execute(sa.text("UPDATE subscriber_lists SET priority = :p WHERE name = :n"),
                              {"p": priority, "n": name})


def downgrade() -> None:
    with op.batch_alter_table("subscriber_lists") as batch:
        batch.drop_column("priority")
