"""two-person approval: approvers, pending requests (nothing public until approved), and how an update was released

Revision ID: 0017a
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0017a"
down_revision = "0017"  # the brief said 0010; main's 0017 (staff texts) took it, so this follows it
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("can_approve", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    # Plain ADD COLUMNs (SQLite can): a batch copy of `updates` would have to drop a table others refer to.
    op.add_column("updates", sa.Column("approved_by_id", sa.Integer(), nullable=True))
    op.add_column("updates", sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("updates", sa.Column("release", sa.String(length=16), nullable=False,
                                       server_default="direct"))
    op.add_column("updates", sa.Column("release_reason", sa.String(length=500), nullable=False,
                                       server_default=""))
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("headline", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=True),
        sa.Column("author_seen", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_approval_requests_author_id"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name="fk_approval_requests_decided_by_id"),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
    )
    op.create_index("ix_approval_requests_uid", "approval_requests", ["uid"])
    op.create_index("ix_approval_requests_state", "approval_requests", ["state"])


def downgrade() -> None:
    op.drop_index("ix_approval_requests_state", table_name="approval_requests")
    op.drop_index("ix_approval_requests_uid", table_name="approval_requests")
    op.drop_table("approval_requests")
    with op.batch_alter_table("updates", schema=None) as batch_op:
        for column in ("release_reason", "release", "approved_at", "approved_by_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("can_approve")
