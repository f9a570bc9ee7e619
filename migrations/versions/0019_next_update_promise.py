"""the promise of the next update becomes a time (or "no further updates"), and each overdue reminder is kept

`updates.next_update` (free text) stays for the rows written before; new updates fill `next_update_at` (UTC)
or `no_further_updates`. `overdue_reminders` holds one row per (update, reminder number): the unique key is
what makes each reminder, and its audit entry, happen once however many workers check.

Revision ID: 0019
Revises: 0017 (chained after main's staff texts at merge; the brief said 0010)
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite can): a batch copy of `updates` would have to drop a table others refer to.
    op.add_column("updates", sa.Column("next_update_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("updates", sa.Column("no_further_updates", sa.Boolean(), nullable=False,
                                       server_default=sa.text("false")))
    # Each incident's latest live update of each audience, on every console page (the overdue alarm): read from
    # this index alone (partial: retracted updates promise nothing), without touching the table's rows.
    live = sa.text("retracted_at IS NULL")
    op.create_index("ix_updates_live_promises", "updates", ["incident_id", "audience", "published_at"],
                    sqlite_where=live, postgresql_where=live)
    op.create_table(
        "overdue_reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("update_id", sa.Integer(), sa.ForeignKey("updates.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("update_id", "number", name="uq_overdue_reminders_update_number"),
    )


def downgrade() -> None:
    op.drop_table("overdue_reminders")
    op.drop_index("ix_updates_live_promises", table_name="updates")
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_column("no_further_updates")
        batch_op.drop_column("next_update_at")
