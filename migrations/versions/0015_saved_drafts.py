"""saved drafts: what an author types in the composer, kept server-side as they type

Revision ID: 0015
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_saved_drafts_user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_saved_drafts"),
        sa.UniqueConstraint("user_id", name="uq_saved_drafts_user_id"),
    )


def downgrade() -> None:
    op.drop_table("saved_drafts")
