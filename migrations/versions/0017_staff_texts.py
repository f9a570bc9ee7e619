"""texts to staff (approval requests, overdue reminders), once per key and number; staff's own phone numbers

Revision ID: 0017
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("text", sa.String(1600), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.String(64)),
        sa.Column("error", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_staff_texts"),
        sa.UniqueConstraint("key", "phone", name="uq_staff_texts_key"),
    )
    op.create_index("ix_staff_texts_state", "staff_texts", ["state"])
    op.add_column("users", sa.Column("phone", sa.String(20), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("phone")
    op.drop_index("ix_staff_texts_state", table_name="staff_texts")
    op.drop_table("staff_texts")
